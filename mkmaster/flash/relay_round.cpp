#include "mkmaster/flash/relay_round.h"

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>

#include "base/interrupt.h"

namespace flash {

RelayGate::RelayGate(std::size_t nodes, RelayPushFn push_relay)
    : push_relay_(std::move(push_relay)), runs_(nodes, nullptr), outcomes_(promise_.get_future().share()) {}

RelayGate::~RelayGate() {
  if (relay_.joinable()) relay_.join();
}

std::size_t RelayGate::arrive(std::size_t index, NodeRun* ready) {
  std::unique_lock lock(mu_);
  runs_.at(index) = ready;
  if (++arrived_ == runs_.size()) {
    for (NodeRun* r : runs_)
      if (r) chain_.push_back(r);
    if (chain_.size() >= 2) {
      std::vector<RelayNode> nodes;
      for (NodeRun* n : chain_) nodes.push_back({n->node.name, node_push_options(*n)});
      // The relay runs beside the nodes' steps; a signal reaches it through
      // each node's progress callback (base::Interrupted), which fails
      // every step that waits for it as interrupted.
      relay_ = std::thread([this, nodes = std::move(nodes)] {
        try {
          if (const int sig = base::interrupt_signal()) throw base::Interrupted{sig};
          promise_.set_value(push_relay_(nodes));
        } catch (...) {
          promise_.set_exception(std::current_exception());
        }
      });
    }
    all_arrived_.notify_all();
  } else {
    all_arrived_.wait(lock, [&] { return arrived_ == runs_.size(); });
  }
  return chain_.size();
}

void RelayGate::stream(NodeRun& n) {
  const auto at = std::find(chain_.begin(), chain_.end(), &n);
  if (at == chain_.end()) throw std::logic_error("RelayGate::stream: the node is not in the chain");
  const std::size_t i = static_cast<std::size_t>(at - chain_.begin());
  n.run.step("stream-image", [&] {
    n.run.progress(fmt::format("relay: node {} of {}{}", i + 1, chain_.size(),
                               i == 0 ? ", fed by this host" : ", fed by " + chain_[i - 1]->node.name));
    const auto& all = outcomes_.get();
    if (all.size() != chain_.size())
      throw std::runtime_error(
          fmt::format("the relay reported {} nodes for the {} it was given", all.size(), chain_.size()));
    const RelayOutcome& o = all[i];
    n.result.push = o.push;
    if (!o.ok) throw std::runtime_error(o.error.empty() ? "failed in the relay" : o.error);
    n.run.progress(fmt::format("{} bytes in {:.1f} s", o.push.image_size, o.push.seconds));
  });
}

}  // namespace flash
