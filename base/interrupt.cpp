#include "base/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace base {

namespace {

std::atomic<int> g_signal{0};
std::atomic<bool> g_installed{false};

void on_signal(int sig) {
  int expected = 0;
  if (g_signal.compare_exchange_strong(expected, sig)) return;  // the first: noted, the job cleans up
  // The second: the user does not want to wait for the cleanup.
  static const char msg[] = "mkmaster: second signal: exiting without cleanup\n";
  (void)!::write(2, msg, sizeof msg - 1);
  ::_exit(128 + sig);
}

}  // namespace

void install_interrupt_handlers() {
  if (g_installed.exchange(true)) return;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  // No SA_RESTART: a blocking poll/read returns EINTR, so a loop that waits
  // notices the signal at once instead of at its next timeout.
  sa.sa_flags = 0;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

int interrupt_signal() { return g_signal.load(); }

void check_interrupt() {
  if (const int s = g_signal.load()) throw Interrupted{s};
}

void clear_interrupt() { g_signal.store(0); }

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    default: return "a signal";
  }
}

}  // namespace base
