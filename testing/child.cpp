#include "testing/child.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <thread>

namespace mktest {

Child::~Child() {
  terminate();
  if (stdout_fd >= 0) close(stdout_fd);
}

Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    terminate();
    if (stdout_fd >= 0) close(stdout_fd);
    pid = o.pid;
    stdout_fd = o.stdout_fd;
    o.pid = o.stdout_fd = -1;
  }
  return *this;
}

std::optional<int> Child::wait(std::chrono::milliseconds timeout) {
  if (pid <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) {
      terminate();
      return std::nullopt;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Child::terminate() {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  for (int i = 0; i < 250; ++i) {
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  pid = -1;
}

std::string Child::read_all_stdout() {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(stdout_fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

Child spawn(const std::vector<std::string>& argv, const std::string& stderr_path) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  Child c;
  c.pid = fork();
  if (c.pid < 0) throw std::runtime_error("fork failed");
  if (c.pid == 0) {
    dup2(fds[1], 1);
    if (!stderr_path.empty()) {
      int e = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (e >= 0) dup2(e, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  c.stdout_fd = fds[0];
  return c;
}

int read_port(Child& c, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("no PORT line from child");
    pollfd p{c.stdout_fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char ch;
    if (read(c.stdout_fd, &ch, 1) != 1) throw std::runtime_error("child closed stdout before a PORT line: " + line);
    if (ch != '\n') {
      line += ch;
      continue;
    }
    if (line.rfind("PORT ", 0) == 0) return std::stoi(line.substr(5));
    line.clear();
  }
}

std::string python3() { return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

}  // namespace mktest
