#pragma once
// A child process on a pseudo-terminal: the console command
// (`ipmitool … sol activate`) wants a tty, and interactive `mkmaster console`
// relays one. argv is exec'd directly, never through a shell.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/spawn.h"

namespace bmc {

class PtyProcess {
 public:
  // Throws base::SpawnError if the command cannot be started.
  PtyProcess(const std::vector<std::string>& argv, const base::EnvVars& extra_env);
  ~PtyProcess();
  PtyProcess(const PtyProcess&) = delete;
  PtyProcess& operator=(const PtyProcess&) = delete;

  // Waits up to timeout for output. Returns the bytes read, "" on timeout,
  // nullopt once the child closed the terminal (exited).
  std::optional<std::string> read(std::chrono::milliseconds timeout);
  // Writes all bytes; false if the terminal is gone.
  bool write(std::string_view bytes);
  // SIGTERM, then SIGKILL after grace; reaps. Returns the exit status (-1 if signalled).
  int terminate(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));
  // Non-blocking: has the child exited? (reaps it)
  bool exited();
  int exit_code() const { return exit_code_; }
  pid_t pid() const { return child_.pid(); }
  int fd() const { return child_.terminal.get(); }

 private:
  base::Child child_;
  int exit_code_ = -1;
};

}  // namespace bmc
