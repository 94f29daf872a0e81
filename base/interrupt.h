#pragma once
// SIGINT and SIGTERM for a long job that must clean up (`mkmaster push
// NODE…`): the first signal is only recorded, and the job's loops ask
// interrupt_signal() / check_interrupt() at their next step and run their
// cleanup; a second signal ends the process at once (exit 128+signal), its
// children following through PR_SET_PDEATHSIG (SpawnOptions::
// die_with_parent). Signals are process-wide, so this state is too.
namespace base {

// Thrown by check_interrupt(). Deliberately not a std::exception: the
// generic handlers of retry loops (catch std::exception, reconnect) must
// not swallow it on its way to the code that cleans up.
struct Interrupted {
  int signal;
};

// Installs the handlers (idempotent). Until then signals keep their
// default action.
void install_interrupt_handlers();

// The first SIGINT/SIGTERM received since install (or clear), else 0.
// Async-signal-safe.
int interrupt_signal();

// Throws Interrupted{interrupt_signal()} if a signal came.
void check_interrupt();

// Forgets a received signal (after its cleanup, or between tests).
void clear_interrupt();

// "SIGINT", "SIGTERM", else "a signal".
const char* signal_name(int sig);

}  // namespace base
