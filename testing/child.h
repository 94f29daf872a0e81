#pragma once
// Child processes of a test (servers, proxies, the programs under test):
// start, read a "PORT n" line, wait with a deadline, kill by pid (never by
// name). A Child that goes out of scope is terminated.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace mktest {

struct Child {
  pid_t pid = -1;
  int stdout_fd = -1;
  Child() = default;
  Child(Child&& o) noexcept : pid(o.pid), stdout_fd(o.stdout_fd) { o.pid = o.stdout_fd = -1; }
  Child& operator=(Child&& o) noexcept;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child();
  // Waits up to `timeout`; nullopt if still running (then it is killed).
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void terminate();  // SIGTERM, then SIGKILL after 5 s
  std::string read_all_stdout();
};

// stdout is a pipe (read it with read_line/read_all_stdout); stderr goes to
// `stderr_path` when given.
Child spawn(const std::vector<std::string>& argv, const std::string& stderr_path = "");
// Reads stdout lines until one starts with "PORT "; throws after `timeout`.
int read_port(Child& c, std::chrono::milliseconds timeout);

std::string python3();

}  // namespace mktest
