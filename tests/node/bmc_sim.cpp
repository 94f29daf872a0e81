#include "bmc_sim.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "base/subprocess.h"
#include "testing/child.h"

extern char** environ;

namespace bmc::test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

int free_port(int sock_type) {
  const int fd = ::socket(AF_INET, sock_type, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

FakeConsole::FakeConsole(const std::string& workdir) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 4) != 0)
    throw std::runtime_error("fake console: cannot listen");
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (::pipe2(stop_pipe_, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  // The "node": busybox ash, as the initrd runs it, in the test's directory.
  struct winsize ws {};
  ws.ws_row = 24;
  ws.ws_col = 200;
  shell_pid_ = ::forkpty(&pty_fd_, nullptr, nullptr, &ws);
  if (shell_pid_ == 0) {
    if (::chdir(workdir.c_str()) != 0) ::_exit(126);
    ::setenv("PS1", "(initrd) ", 1);
    ::setenv("HOME", workdir.c_str(), 1);
    ::setenv("ENV", "/dev/null", 1);
    ::execlp("busybox", "busybox", "sh", "-i", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::fcntl(pty_fd_, F_SETFD, FD_CLOEXEC);
  thread_ = std::thread([this] { loop(); });
}

FakeConsole::~FakeConsole() {
  (void)!::write(stop_pipe_[1], "x", 1);
  thread_.join();
  ::kill(shell_pid_, SIGKILL);
  ::waitpid(shell_pid_, nullptr, 0);
  ::close(pty_fd_);
  ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

bool FakeConsole::wait_connected(std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!connected_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(20ms);
  return connected_;
}

std::vector<std::pair<std::chrono::steady_clock::time_point, char>> FakeConsole::inbound() {
  std::lock_guard lock(mu_);
  return inbound_;
}

std::string FakeConsole::inbound_text() {
  std::lock_guard lock(mu_);
  std::string s;
  for (const auto& [t, c] : inbound_) s.push_back(c);
  return s;
}

void FakeConsole::loop() {
  int conn = -1;
  char buf[4096];
  for (;;) {
    pollfd p[3] = {{stop_pipe_[0], POLLIN, 0}, {conn >= 0 ? conn : listen_fd_, POLLIN, 0}, {pty_fd_, POLLIN, 0}};
    if (::poll(p, 3, 1000) < 0) continue;
    if (p[0].revents) break;
    if (p[1].revents) {
      if (conn < 0) {
        conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        connected_ = conn >= 0;
      } else {
        const ssize_t n = ::read(conn, buf, sizeof buf);
        if (n <= 0) {
          ::close(conn);
          conn = -1;
          connected_ = false;
        } else {
          const auto now = std::chrono::steady_clock::now();
          {
            std::lock_guard lock(mu_);
            for (ssize_t i = 0; i < n; ++i) inbound_.emplace_back(now, buf[i]);
          }
          (void)!::write(pty_fd_, buf, static_cast<std::size_t>(n));
        }
      }
    }
    if (p[2].revents) {
      const ssize_t n = ::read(pty_fd_, buf, sizeof buf);
      if (n > 0 && conn >= 0) (void)!::write(conn, buf, static_cast<std::size_t>(n));
      if (n <= 0) std::this_thread::sleep_for(50ms);
    }
  }
  if (conn >= 0) ::close(conn);
}

BmcSim::BmcSim(const std::string& workdir, const std::string& user, const std::string& password, int console_port)
    : dir_(workdir + "/bmc"), user_(user), password_(password) {
  fs::create_directories(dir_ + "/state");
  port_ = free_port(SOCK_DGRAM);
  const std::string chassis = dir_ + "/chassis.sh";
  std::ofstream(chassis) << "#!/bin/sh\n"
                            "# ipmi_sim chassis_control: get power|boot, set power|reset|boot <v>, check\n"
                            "D=" << dir_ << "\n"
                            "case \"$1\" in\n"
                            "get) shift; for w in \"$@\"; do case $w in\n"
                            "  power) echo \"power:$(cat $D/power 2>/dev/null || echo 0)\";;\n"
                            "  boot) echo \"boot:$(cat $D/boot 2>/dev/null || echo default)\";; esac; done;;\n"
                            "set) echo \"$2 $3\" >> $D/actions.log\n"
                            "  case $2 in power) echo $3 > $D/power;; boot) echo $3 > $D/boot;; esac;;\n"
                            "esac\nexit 0\n";
  ::chmod(chassis.c_str(), 0755);
  const auto conf = base::run_process({mktest::python3(), IPMI_SIM_CONF, "--dir", dir_, "--name", "mknode-test", "--host",
                                      "127.0.0.1", "--port", std::to_string(port_), "--user", user, "--chassis",
                                      chassis, "--sol-port", std::to_string(console_port)},
                                     {{"BMC_PASSWORD", password}}, 10s);
  if (conf.exit_code != 0) throw std::runtime_error("ipmi_sim_conf.py failed: " + conf.output);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, (dir_ + "/sim.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  const std::vector<std::string> argv = {"ipmi_sim", "-c", dir_ + "/lan.conf", "-f", dir_ + "/bmc.emu", "-s",
                                         dir_ + "/state", "-n"};
  std::vector<char*> a;
  for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
  a.push_back(nullptr);
  if (::posix_spawnp(&pid_, "ipmi_sim", &fa, nullptr, a.data(), environ) != 0) throw std::runtime_error("spawn ipmi_sim");
  posix_spawn_file_actions_destroy(&fa);
  for (int i = 0; i < 100; ++i) {
    if (ipmitool({"chassis", "power", "status"}) == 0) return;
    std::this_thread::sleep_for(50ms);
  }
  throw std::runtime_error("ipmi_sim did not answer within 5 s; see " + dir_ + "/sim.log");
}

BmcSim::~BmcSim() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 50 && ::waitpid(pid_, nullptr, WNOHANG) == 0; ++i) std::this_thread::sleep_for(20ms);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

int BmcSim::ipmitool(const std::vector<std::string>& args, std::string* output) const {
  std::vector<std::string> argv = {"ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p",
                                   std::to_string(port_), "-U", user_, "-E"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = base::run_process(argv, {{"IPMI_PASSWORD", password_}}, 10s);
  if (output) *output = r.output;
  return r.exit_code;
}

std::vector<std::string> BmcSim::actions() const {
  std::vector<std::string> out;
  std::ifstream in(actions_file());
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

void BmcSim::clear_actions() const { fs::remove(actions_file()); }

}  // namespace bmc::test
