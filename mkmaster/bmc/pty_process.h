#pragma once
// A child process on a pseudo-terminal (forkpty): the console command
// (`ipmitool … sol activate`) wants a tty, and interactive `mkmaster console`
// relays one. argv is exec'd directly, never through a shell.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/subprocess.h"

namespace bmc {

class PtyProcess {
 public:
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
  pid_t pid() const { return pid_; }
  int fd() const { return master_; }

 private:
  int master_ = -1;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
};

}  // namespace bmc
