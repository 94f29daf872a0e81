#pragma once
// Test fixtures: a real OpenIPMI ipmi_sim BMC on loopback (lanplus, SOL,
// chassis control recorded to a file) and the console it serves over SOL.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace bmc::test {

// A free loopback port of the given socket type (bound to port 0, closed).
int free_port(int sock_type);

// The node's serial console as ipmi_sim sees it: a TCP listener that
// ipmi_sim connects to, bridged to a real `busybox sh -i` on a pty with the
// initrd's prompt "(initrd) ". Every byte arriving from the BMC is recorded
// with its arrival time, so tests can observe per-character delays.
class FakeConsole {
 public:
  explicit FakeConsole(const std::string& workdir);
  ~FakeConsole();
  int port() const { return port_; }
  bool wait_connected(std::chrono::milliseconds timeout);
  std::vector<std::pair<std::chrono::steady_clock::time_point, char>> inbound();
  std::string inbound_text();

 private:
  void loop();
  int listen_fd_ = -1;
  int port_ = 0;
  int stop_pipe_[2] = {-1, -1};
  int pty_fd_ = -1;
  pid_t shell_pid_ = -1;
  std::atomic<bool> connected_{false};
  std::mutex mu_;
  std::vector<std::pair<std::chrono::steady_clock::time_point, char>> inbound_;
  std::thread thread_;
};

// One ipmi_sim with user `user`/`password` (admin privilege), SOL wired to
// console_port, chassis control appending "power 1", "boot pxe", ... to
// actions_file().
class BmcSim {
 public:
  BmcSim(const std::string& workdir, const std::string& user, const std::string& password, int console_port);
  ~BmcSim();
  int port() const { return port_; }
  std::string actions_file() const { return dir_ + "/actions.log"; }
  std::vector<std::string> actions() const;
  // Runs ipmitool against this BMC with the right credentials; returns exit code.
  int ipmitool(const std::vector<std::string>& args, std::string* output = nullptr) const;
  void clear_actions() const;

 private:
  std::string dir_, user_, password_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace bmc::test
