#include "base/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>
#include <thread>

#include "base/strings.h"

extern char** environ;

namespace base {

namespace {

// What the child sends back through the close-on-exec error pipe when a step
// before exec (or exec itself) fails; EOF on that pipe means exec succeeded.
enum class Step : int { kRedirect, kSession, kTerminal, kChdir, kExec, kGroup, kParent };
struct Failure {
  Step step;
  int error;
};

[[noreturn]] void child_fail(int report_fd, Step step) {
  const Failure f{step, errno};
  (void)!::write(report_fd, &f, sizeof f);
  ::_exit(127);
}

// A descriptor the child still needs, moved off 0..2 so that filling the
// standard streams cannot overwrite it.
int above_stdio(int fd) { return fd >= 0 && fd <= 2 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 3) : fd; }

ExitStatus decode(int status) {
  if (WIFSIGNALED(status)) return {-1, WTERMSIG(status)};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0};
}

std::string describe(const SpawnOptions& opt, const Failure& f) {
  const std::string why = std::strerror(f.error);
  switch (f.step) {
    case Step::kRedirect: return "redirecting the standard streams: " + why;
    case Step::kSession: return "setsid: " + why;
    case Step::kGroup: return "setpgid: " + why;
    case Step::kTerminal: return "acquiring the terminal: " + why;
    case Step::kChdir: return "chdir " + opt.dir + ": " + why;
    case Step::kParent: return "tying it to its parent (PR_SET_PDEATHSIG): " + why;
    case Step::kExec: break;
  }
  return why;
}

std::vector<char*> pointers(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::vector<std::string> child_environment(const EnvVars& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    const std::string entry(*e);
    bool overridden = false;
    for (const auto& [k, v] : extra) overridden |= entry.rfind(k + "=", 0) == 0;
    if (!overridden) env.push_back(entry);
  }
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

std::string find_program(const std::string& name) {
  if (name.empty()) throw SpawnError("cannot run an empty program name");
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) != 0) throw SpawnError("cannot run " + name + ": " + std::strerror(errno));
    return name;
  }
  const char* path = ::getenv("PATH");
  for (const auto& dir : split(path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  throw SpawnError("cannot run " + name + ": not found in PATH");
}

Child spawn(const SpawnOptions& opt) {
  if (opt.argv.empty()) throw SpawnError("cannot run an empty command");
  // Everything the child needs is made before fork: between fork and exec
  // it makes only async-signal-safe calls (other threads may hold locks).
  const std::string program = find_program(opt.argv[0]);
  const std::vector<std::string> env_strings = child_environment(opt.extra_env);
  const std::vector<char*> argv = pointers(opt.argv), envp = pointers(env_strings);

  Child c;
  UniqueFd null_dev, child_end[3];
  std::optional<Pty> pty;
  const Stdio modes[3] = {opt.in, opt.out, opt.err};
  if (opt.pty) {
    pty = open_pty(*opt.pty);
  } else {
    UniqueFd* ours[3] = {&c.in, &c.out, &c.err};
    for (int i = 0; i < 3; ++i) {
      if (modes[i] == Stdio::kPipe) {
        Pipe p = make_pipe();
        *ours[i] = std::move(i == 0 ? p.write : p.read);
        child_end[i] = std::move(i == 0 ? p.read : p.write);
      } else if (modes[i] == Stdio::kNull && !null_dev) {
        null_dev.reset(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (!null_dev) throw std::system_error(errno, std::generic_category(), "/dev/null");
      }
    }
  }
  int source[3];
  for (int i = 0; i < 3; ++i) {
    if (pty) source[i] = pty->slave.get();
    else if (modes[i] == Stdio::kPipe) source[i] = child_end[i].get();
    else if (modes[i] == Stdio::kNull) source[i] = null_dev.get();
    else source[i] = -1;  // inherited, or (stderr) copied from stdout below
  }
  const bool err_to_out = !pty && opt.err == Stdio::kStdout;
  Pipe report = make_pipe();
  const pid_t parent = ::getpid();

  c.pid_ = ::fork();
  if (c.pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (c.pid_ == 0) {
    const int report_fd = above_stdio(report.write.get());
    if (opt.die_with_parent) {
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) child_fail(report_fd, Step::kParent);
      if (::getppid() != parent) ::_exit(127);  // the parent died before the prctl
    }
    int moved[3];
    for (int i = 0; i < 3; ++i) {
      moved[i] = above_stdio(source[i]);
      if (source[i] >= 0 && moved[i] < 0) child_fail(report_fd, Step::kRedirect);
    }
    if (pty) {
      if (::setsid() < 0) child_fail(report_fd, Step::kSession);
      if (::ioctl(moved[0], TIOCSCTTY, 0) != 0) child_fail(report_fd, Step::kTerminal);
    } else if (opt.process_group && ::setpgid(0, 0) != 0) {
      child_fail(report_fd, Step::kGroup);
    }
    for (int i = 0; i < 3; ++i)
      if (moved[i] >= 0 && ::dup2(moved[i], i) != i) child_fail(report_fd, Step::kRedirect);
    if (err_to_out && ::dup2(1, 2) != 2) child_fail(report_fd, Step::kRedirect);
    if (!opt.dir.empty() && ::chdir(opt.dir.c_str()) != 0) child_fail(report_fd, Step::kChdir);
    ::execve(program.c_str(), argv.data(), envp.data());
    child_fail(report_fd, Step::kExec);
  }

  // Also from this side: whoever signals -pid right after spawn() returns
  // must find the group even if the child has not run yet.
  if (opt.process_group && !pty) ::setpgid(c.pid_, c.pid_);
  report.write.reset();
  Failure f{};
  ssize_t got;
  while ((got = ::read(report.read.get(), &f, sizeof f)) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof f)) {
    c.wait();
    throw SpawnError("cannot run " + opt.argv[0] + ": " + describe(opt, f));
  }
  if (pty) c.terminal = std::move(pty->master);
  return c;
}

Child::Child(Child&& o) noexcept
    : in(std::move(o.in)), out(std::move(o.out)), err(std::move(o.err)), terminal(std::move(o.terminal)),
      pid_(std::exchange(o.pid_, -1)), status_(std::exchange(o.status_, std::nullopt)) {}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    kill_if_running();
    in = std::move(o.in);
    out = std::move(o.out);
    err = std::move(o.err);
    terminal = std::move(o.terminal);
    pid_ = std::exchange(o.pid_, -1);
    status_ = std::exchange(o.status_, std::nullopt);
  }
  return *this;
}

Child::~Child() { kill_if_running(); }

void Child::kill_if_running() {
  if (pid_ > 0 && !status_) {
    signal(SIGKILL);
    wait();
  }
}

void Child::signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<ExitStatus> Child::try_wait() {
  if (pid_ <= 0 || status_) return status_;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) status_ = decode(status);
  return status_;
}

ExitStatus Child::wait() {
  if (pid_ <= 0) return {};
  if (!status_) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = decode(status);
  }
  return *status_;
}

ExitStatus Child::terminate(std::chrono::milliseconds grace) {
  if (auto s = try_wait()) return *s;
  signal(SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto s = try_wait()) return *s;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  signal(SIGKILL);
  return wait();
}

bool read_output(Child& c, std::optional<std::chrono::steady_clock::time_point> deadline, const OutputSink& sink) {
  pollfd p[2] = {{c.out.get(), POLLIN, 0}, {c.err.get(), POLLIN, 0}};
  int open_fds = (p[0].fd >= 0) + (p[1].fd >= 0);
  std::string buf(64 << 10, '\0');
  while (open_fds > 0) {
    int wait_ms = -1;
    if (deadline) {
      // Checked before every read, so a child that never stops writing
      // still meets its deadline.
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        c.signal(SIGKILL);
        return false;
      }
      wait_ms = static_cast<int>(left.count());
    }
    const int r = ::poll(p, 2, wait_ms);
    if (r < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
    if (r <= 0) continue;  // interrupted, or the deadline (checked above)
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(p[i].fd, buf.data(), buf.size());
      if (n > 0) {
        sink(i + 1, std::string_view(buf.data(), static_cast<size_t>(n)));
      } else if (n == 0 || errno != EINTR) {
        p[i].fd = -1;  // poll skips negative descriptors
        --open_fds;
      }
    }
  }
  return true;
}

}  // namespace base
