#include "target-agent/exec_runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace agent {

namespace {

// The leader has exited (a zombie, not reaped: its pid, and so the group
// id, cannot be reused while we signal the group).
bool leader_exited(pid_t pid) {
  siginfo_t info{};
  for (;;) {
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0) return info.si_pid == pid;
    if (errno != EINTR) return true;  // already reaped (cannot happen here): nothing to wait for
  }
}

// How often the leader's exit and the deadline are looked at while no
// output arrives (there is no portable fd for "child exited" under qemu-user).
constexpr int kPollMs = 50;

}  // namespace

namespace {

void kill_group_and_reap(base::Child& child, ExecOutcome& r) {
  // Everything the command started, whatever it did with its stdio (only a
  // setsid escapes, as from any shell).
  ::kill(-child.pid(), SIGKILL);
  child.out.reset();
  child.err.reset();
  r.status = child.wait();
}

ExecOutcome run(base::Child& child, std::optional<std::chrono::steady_clock::time_point> deadline, int peer_fd,
                const base::OutputSink& sink) {
  ExecOutcome r;
  base::UniqueFd* pipes[2] = {&child.out, &child.err};
  std::array<char, 64 * 1024> buf;
  for (;;) {
    const bool exited = leader_exited(child.pid());
    if (exited && !child.out && !child.err) break;
    int wait_ms = kPollMs;
    if (deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        r.timed_out = true;
        break;
      }
      if (left.count() < wait_ms) wait_ms = static_cast<int>(left.count()) + 1;
    }
    pollfd p[3];
    int n = 0, stream_of[3] = {0, 0, 0};
    for (int i = 0; i < 2; ++i)
      if (*pipes[i]) {
        p[n] = {pipes[i]->get(), POLLIN, 0};
        stream_of[n++] = i + 1;
      }
    if (peer_fd >= 0) p[n++] = {peer_fd, POLLRDHUP, 0};
    int ready = ::poll(p, static_cast<nfds_t>(n), wait_ms);
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (stream_of[i] == 0) {  // the host's socket
        r.peer_gone = true;
        break;
      }
      base::UniqueFd& fd = *pipes[stream_of[i] - 1];
      ssize_t got = ::read(fd.get(), buf.data(), buf.size());
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        fd.reset();
        continue;
      }
      sink(stream_of[i], std::string_view(buf.data(), static_cast<size_t>(got)));
    }
    if (r.peer_gone) break;
  }
  return r;
}

}  // namespace

ExecOutcome run_exec(base::Child& child, std::optional<std::chrono::steady_clock::time_point> deadline, int peer_fd,
                     const base::OutputSink& sink) {
  ExecOutcome r;
  try {
    r = run(child, deadline, peer_fd, sink);
  } catch (...) {  // the sink could not send: the host is gone
    kill_group_and_reap(child, r);
    throw;
  }
  kill_group_and_reap(child, r);
  return r;
}

}  // namespace agent
