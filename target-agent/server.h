#pragma once
// The agent's TCP server: accepts connections and serves each on its own
// thread (a reconnecting host can take a session over from a half-dead
// connection). Usable in-process by tests.
#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "target-agent/session.h"
#include "target-agent/target.h"

namespace agent {

class Server {
 public:
  explicit Server(AgentConfig cfg);
  ~Server();
  // "ADDR:PORT" actually bound (port 0 in the config picks a free one).
  std::string address() const { return address_; }
  // Serves until stop(); blocks.
  void run();
  // Runs in a background thread (tests).
  void start();
  void stop();

 private:
  AgentConfig cfg_;
  Sessions sessions_;
  int listen_fd_ = -1;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<int> active_{0};
  std::thread thread_;
  std::mutex fds_mutex_;
  std::set<int> fds_;  // open connections, shut down by stop()
};

}  // namespace agent
