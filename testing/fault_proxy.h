#pragma once
// A TCP proxy on 127.0.0.1 that injects faults into the client→server byte
// stream, for tests of resume and of corruption detection. Each connection
// takes the next planned fault (at most one per connection, so each fault
// costs exactly one reconnect once an endpoint notices it):
//   drop  forward `pos` bytes, then cut the connection;
//   flip  invert bit `bit` of the byte at offset `pos` and keep forwarding
//         (an endpoint must detect it and hang up).
// A connection that ends before its fault's position hands the fault on to
// the next one. cut_when_idle() drops, outside the plan, the first
// connection whose client pauses: everything the client sent before its
// pause got through, which a byte offset cannot promise when the client's
// traffic depends on timing. The plan is explicit, or drawn from a seed: the same seed
// and the same traffic give the same faults.
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace mktest {

struct Fault {
  enum Kind { kDrop, kFlip } kind = kDrop;
  uint64_t pos = 0;
  int bit = 3;
  static Fault drop(uint64_t pos) { return {kDrop, pos, 0}; }
  static Fault flip(uint64_t pos, int bit = 3) { return {kFlip, pos, bit}; }
  bool operator==(const Fault&) const = default;
};

// `drops` drops at [0, max_gap] and `flips` flips at [grace, max_gap]
// (the grace keeps a handshake intact), in a seeded random order.
std::vector<Fault> seeded_faults(uint32_t seed, int drops, int flips, uint64_t grace, uint64_t max_gap);

// What happened on one connection, once it has ended.
struct ConnectionLog {
  int index = 0;               // in the order of accepting
  std::optional<Fault> fault;  // applied on this connection
  enum Closer { kClient, kServer, kProxy } closed_by = kClient;
  uint64_t up = 0;  // client→server bytes forwarded
};

class FaultProxy {
 public:
  FaultProxy(std::string upstream, std::vector<Fault> plan);
  ~FaultProxy();  // returns promptly, even with connections open
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::string address() const { return address_; }
  int applied() const { return applied_; }  // faults injected so far
  // Cut the first connection whose client then sends nothing for 100 ms.
  void cut_when_idle() { cut_when_idle_ = true; }
  int applied(Fault::Kind kind) const;
  std::vector<ConnectionLog> connections() const;  // the ended ones, in order of accepting

 private:
  void run();
  void pipe(int client, int index);
  std::optional<Fault> take();
  std::string upstream_, address_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> applied_{0};
  std::atomic<bool> cut_when_idle_{false};
  mutable std::mutex m_;
  std::deque<Fault> plan_;
  std::vector<ConnectionLog> log_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace mktest
