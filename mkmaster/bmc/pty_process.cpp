#include "mkmaster/bmc/pty_process.h"

#include <algorithm>

#include <fcntl.h>
#include <fmt/core.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace bmc {

PtyProcess::PtyProcess(const std::vector<std::string>& argv, const base::EnvVars& extra_env) {
  // Everything the child needs is prepared before fork: after forkpty only
  // async-signal-safe calls are made.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const auto env_strings = base::child_environment(extra_env);
  std::vector<char*> env;
  for (const auto& e : env_strings) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  struct winsize ws {};
  ws.ws_row = 24;
  ws.ws_col = 80;
  pid_ = ::forkpty(&master_, nullptr, nullptr, &ws);
  if (pid_ < 0) throw std::runtime_error(fmt::format("forkpty: {}", std::strerror(errno)));
  if (pid_ == 0) {
    ::execvpe(args[0], args.data(), env.data());
    const char msg[] = "mkmaster: cannot exec console command\n";
    (void)!::write(2, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::fcntl(master_, F_SETFD, FD_CLOEXEC);
}

PtyProcess::~PtyProcess() {
  if (!reaped_) terminate(std::chrono::milliseconds(200));
  if (master_ >= 0) ::close(master_);
}

std::optional<std::string> PtyProcess::read(std::chrono::milliseconds timeout) {
  pollfd p{master_, POLLIN, 0};
  // A deadline computed by a caller can already have passed (negative):
  // that means "don't wait", never poll's -1 = "wait forever".
  int n = ::poll(&p, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(timeout.count(), 0)));
  if (n < 0 && errno == EINTR) return std::string();
  if (n == 0) return std::string();
  char buf[4096];
  const ssize_t got = ::read(master_, buf, sizeof buf);
  if (got > 0) return std::string(buf, static_cast<std::size_t>(got));
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return std::string();
  return std::nullopt;  // EIO: the slave side is closed, the child is gone
}

bool PtyProcess::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(master_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool PtyProcess::exited() {
  if (reaped_) return true;
  int status = 0;
  const pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    reaped_ = true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  return reaped_;
}

int PtyProcess::terminate(std::chrono::milliseconds grace) {
  if (exited()) return exit_code_;
  ::kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (exited()) return exit_code_;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  exit_code_ = -1;
  return exit_code_;
}

}  // namespace bmc
