#include "mkmaster/flash/relay_round.h"

#include <fmt/core.h>

#include <future>
#include <stdexcept>
#include <thread>

#include "base/interrupt.h"
#include "base/parallel.h"

namespace flash {

std::vector<std::string> relay_round(const std::vector<NodeRun*>& nodes, const RelayPushFn& push_relay) {
  std::vector<RelayNode> relay;
  for (NodeRun* n : nodes) relay.push_back({n->node.name, node_push_options(*n)});
  std::promise<std::vector<RelayOutcome>> promise;
  std::shared_future<std::vector<RelayOutcome>> outcomes = promise.get_future().share();
  // The relay runs beside the nodes' steps; a signal reaches it through
  // each node's progress callback (base::Interrupted), which fails every
  // step that waits for it as interrupted.
  std::thread relay_thread([&] {
    try {
      if (const int sig = base::interrupt_signal()) throw base::Interrupted{sig};
      promise.set_value(push_relay(relay));
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  });
  // Every node waits at once: a waiting step costs a thread, not a BMC
  // session, so -j does not bound this round.
  const int all = static_cast<int>(nodes.size());
  auto errors = base::for_each_bounded(nodes.size(), all, [&](std::size_t i) {
    NodeRun& n = *nodes[i];
    guarded(n, [&] {
      n.run.step("stream-image", [&] {
        n.run.progress(fmt::format("relay: node {} of {}{}", i + 1, all,
                                   i == 0 ? ", fed by this host" : ", fed by " + nodes[i - 1]->node.name));
        const auto& all_outcomes = outcomes.get();
        if (all_outcomes.size() != nodes.size())
          throw std::runtime_error(
              fmt::format("the relay reported {} nodes for the {} it was given", all_outcomes.size(), nodes.size()));
        const RelayOutcome& o = all_outcomes[i];
        n.result.push = o.push;
        if (!o.ok) throw std::runtime_error(o.error.empty() ? "failed in the relay" : o.error);
        n.run.progress(fmt::format("{} bytes in {:.1f} s", o.push.image_size, o.push.seconds));
      });
    });
  });
  relay_thread.join();
  return errors;
}

}  // namespace flash
