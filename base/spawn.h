#pragma once
// Starting a program (argv, never a shell) with its standard streams on
// pipes, /dev/null, ours, or a new pseudo-terminal. Extra environment
// variables exist only in the child's environment: that is how BMC passwords
// reach ipmitool (-E), never through argv where ps would show them.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/pty.h"
#include "base/unique_fd.h"

namespace base {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// Where one of the child's standard streams goes.
enum class Stdio {
  kNull,     // /dev/null
  kInherit,  // ours
  kPipe,     // a pipe whose other end is Child::in/out/err
  kStdout,   // stderr only: the same file as stdout (2>&1)
};

struct SpawnOptions {
  explicit SpawnOptions(std::vector<std::string> command, EnvVars extra = {})
      : argv(std::move(command)), extra_env(std::move(extra)) {}

  std::vector<std::string> argv;  // argv[0] is looked up in PATH (find_program)
  EnvVars extra_env;              // added to, and overriding, our environment
  Stdio in = Stdio::kNull, out = Stdio::kPipe, err = Stdio::kPipe;
  // Set: stdin, stdout and stderr are a new pseudo-terminal of this size,
  // the controlling terminal of a new session the child leads, and
  // Child::terminal is its master (in/out/err are ignored).
  std::optional<TerminalSize> pty;
  std::string dir;  // working directory; empty: ours
  // The child gets SIGKILL when the thread that started it ends, or the
  // whole process (PR_SET_PDEATHSIG), so an ipmitool or console never
  // outlives a mkmaster that was killed or left after a second Ctrl-C.
  // Keep such a Child in the thread that spawned it.
  bool die_with_parent = false;
  // The child leads a new process group (its pid), so everything it starts
  // can be signalled at once with kill(-pid) (the agent's EXEC), and a
  // Ctrl-C on our terminal reaches only us, and we decide how the child
  // ends. A pty child has its own session (and group) already.
  bool process_group = false;
};

// Why a program could not be started: "cannot run NAME: reason".
class SpawnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ExitStatus {
  int code = -1;   // the exit code, -1 if a signal ended the child
  int signal = 0;  // the signal that ended it, 0 if it exited
};

// A started child. One that is still running when its Child goes away is
// killed (SIGKILL) and reaped, so none outlives its owner unwaited.
class Child {
 public:
  UniqueFd in, out, err;  // our ends of the pipes asked for, else empty
  UniqueFd terminal;      // the pty's master, if one was asked for

  Child() = default;
  Child(Child&& o) noexcept;
  Child& operator=(Child&& o) noexcept;
  ~Child();

  pid_t pid() const { return pid_; }
  // Sends sig unless the child has been reaped (its pid may be reused then).
  void signal(int sig);
  // Reaps the child if it has exited; nullopt while it runs.
  std::optional<ExitStatus> try_wait();
  ExitStatus wait();
  // SIGTERM, then SIGKILL if it is still running after grace; reaps.
  ExitStatus terminate(std::chrono::milliseconds grace);

 private:
  friend Child spawn(const SpawnOptions&);
  void kill_if_running();
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

// Throws SpawnError if the program is not found or cannot be executed,
// std::system_error if no pipe, pty or process can be made.
Child spawn(const SpawnOptions& opt);

// The file exec would run for name: name itself if it has a '/', else the
// first executable regular file in our PATH. Throws SpawnError, so a missing
// program says "not found in PATH" rather than leaving the caller a bare
// exit status 127 (all a failed exec shows under some vfork emulations,
// qemu-user among them).
std::string find_program(const std::string& name);

// Our environment plus (overriding) extra, as "NAME=value" strings.
std::vector<std::string> child_environment(const EnvVars& extra);

// Hands sink(1, bytes) and sink(2, bytes) what arrives on the child's
// stdout and stderr pipes (whichever it has) until both are at EOF: the
// child, and anything it started that kept them open, closed them. If the
// deadline comes first, the child is killed (SIGKILL) and false is
// returned; no deadline waits as long as it takes.
using OutputSink = std::function<void(int stream, std::string_view bytes)>;
bool read_output(Child& c, std::optional<std::chrono::steady_clock::time_point> deadline, const OutputSink& sink);

}  // namespace base
