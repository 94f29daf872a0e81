#pragma once
// The chain's stream-image round. Each node keeps one thread for its whole
// run — its SOL console's ipmitool is tied to the thread that started it
// (PR_SET_PDEATHSIG fires when that *thread* ends), so a node's later steps
// must not move to another thread. Each node's thread arrives at the
// RelayGate once its boot round ended; when every node has arrived, one
// relay push (FlashOptions::push_relay) streams through the ready nodes in
// order, while each ready node's own stream-image step waits for its
// outcome — so each node still logs, times and reports the step as it does
// alone, and a node cut out of the chain fails that step with the relay's
// reason while the others go on.
#include <condition_variable>
#include <cstddef>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "mkmaster/flash/node_run.h"

namespace flash {

class RelayGate {
 public:
  RelayGate(std::size_t nodes, RelayPushFn push_relay);
  ~RelayGate();  // joins the relay
  RelayGate(const RelayGate&) = delete;
  RelayGate& operator=(const RelayGate&) = delete;

  // Node `index` ended its boot round: `ready` is its run when its agent
  // listens, nullptr when it failed. Waits until every node has arrived
  // (each boot round is bounded by its steps' timeouts); then returns how
  // many nodes are ready. The last to arrive starts the relay when two or
  // more are.
  std::size_t arrive(std::size_t index, NodeRun* ready);
  // The stream-image step of a ready node in a chain of two or more.
  void stream(NodeRun& n);

 private:
  const RelayPushFn push_relay_;
  std::mutex mu_;
  std::condition_variable all_arrived_;
  std::size_t arrived_ = 0;
  std::vector<NodeRun*> runs_;  // by node index; nullptr: not ready
  std::vector<NodeRun*> chain_;
  std::promise<std::vector<RelayOutcome>> promise_;
  std::shared_future<std::vector<RelayOutcome>> outcomes_;
  std::thread relay_;
};

}  // namespace flash
