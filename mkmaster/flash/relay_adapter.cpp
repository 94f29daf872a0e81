#include "mkmaster/flash/relay_adapter.h"

#include <fmt/core.h>

#include <stdexcept>

namespace flash {

RelayPushFn relay_push_fn(RelayEntry entry) {
  return [entry = std::move(entry)](const std::vector<RelayNode>& nodes) {
    if (nodes.empty()) throw std::invalid_argument("a relay needs at least one node");
    push::RelayOptions o;
    o.push = nodes.front().push;  // the user's options, as every node's are
    o.push.on_progress = nullptr;
    o.fanout = push::Fanout::kChain;
    for (const auto& n : nodes) o.nodes.push_back({n.push.agent, n.node, ""});
    o.on_progress = [&nodes](size_t i, const push::Progress& p) {
      if (i < nodes.size() && nodes[i].push.on_progress) nodes[i].push.on_progress(p);
    };
    const push::RelayResult r = entry(o);
    if (r.nodes.size() != nodes.size())
      throw std::runtime_error(
          fmt::format("the relay reported {} nodes for the {} it was given", r.nodes.size(), nodes.size()));
    std::vector<RelayOutcome> out;
    for (const auto& n : r.nodes) {
      RelayOutcome x;
      x.ok = n.ok;
      if (!n.ok) x.error = n.step.empty() ? n.error : fmt::format("relay step {}: {}", n.step, n.error);
      x.push.image_size = r.image_size;
      x.push.data_bytes = n.bytes;
      x.push.seconds = n.seconds;
      x.push.verified = n.verified;
      x.push.verify_message = n.verify_message;
      x.push.reconnects = n.hop_reconnects;
      x.push.target = o.push.target;
      out.push_back(std::move(x));
    }
    return out;
  };
}

}  // namespace flash
