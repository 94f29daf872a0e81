#pragma once
// A TCP proxy for resume tests: forwards host↔agent and cuts the
// connection after a chosen number of host→agent bytes (one cut per entry
// of `cuts`, one per connection), so a push must reconnect and resume.
// With flip = true it flips one bit at that byte instead and keeps
// forwarding: the agent must detect it (bad checksum) and hang up.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace mktest {

class DropProxy {
 public:
  DropProxy(std::string upstream, std::vector<uint64_t> cuts, bool flip = false);
  ~DropProxy();
  std::string address() const { return address_; }
  int drops() const { return drops_; }

 private:
  void run();
  void pipe(int client);
  std::string upstream_, address_;
  std::vector<uint64_t> cuts_;
  bool flip_ = false;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> drops_{0};
  std::mutex m_;
  size_t next_cut_ = 0;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace mktest
