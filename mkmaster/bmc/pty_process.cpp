#include "mkmaster/bmc/pty_process.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace bmc {

namespace {
base::SpawnOptions on_terminal(const std::vector<std::string>& argv, const base::EnvVars& extra_env) {
  base::SpawnOptions opt(argv, extra_env);
  opt.pty = base::TerminalSize{24, 80};
  // A console left behind would keep the BMC's SOL payload: it dies with
  // mkmaster, even after a second Ctrl-C or a SIGKILL.
  opt.die_with_parent = true;
  return opt;
}
}  // namespace

PtyProcess::PtyProcess(const std::vector<std::string>& argv, const base::EnvVars& extra_env)
    : child_(base::spawn(on_terminal(argv, extra_env))) {}

PtyProcess::~PtyProcess() { terminate(std::chrono::milliseconds(200)); }

std::optional<std::string> PtyProcess::read(std::chrono::milliseconds timeout) {
  pollfd p{fd(), POLLIN, 0};
  // A deadline computed by a caller can already have passed (negative):
  // that means "don't wait", never poll's -1 = "wait forever".
  int n = ::poll(&p, 1, static_cast<int>(std::max<std::chrono::milliseconds::rep>(timeout.count(), 0)));
  if (n < 0 && errno == EINTR) return std::string();
  if (n == 0) return std::string();
  char buf[4096];
  const ssize_t got = ::read(fd(), buf, sizeof buf);
  if (got > 0) return std::string(buf, static_cast<std::size_t>(got));
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return std::string();
  return std::nullopt;  // EIO: the slave side is closed, the child is gone
}

bool PtyProcess::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

bool PtyProcess::exited() {
  const auto status = child_.try_wait();
  if (status) exit_code_ = status->code;
  return status.has_value();
}

int PtyProcess::terminate(std::chrono::milliseconds grace) {
  exit_code_ = child_.terminate(grace).code;
  return exit_code_;
}

}  // namespace bmc
