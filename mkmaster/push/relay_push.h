#pragma once
// Flash several running agents with one image (docs/protocol.md, "Relay"):
// a chain — the host streams one copy to the first agent and each agent
// forwards it to the next over a hop authenticated with a key the host
// issued for it — or a star of parallel push_image() calls. Failed nodes
// are cut out of the chain and reported; the others finish and are each
// verified against the host's digest of the image.
// push_image(PushOptions) stays the entry for one node; the CLI's repeated
// --agent/--agents form and the node pipeline call push_relay().
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mkmaster/push/push.h"

namespace push {

enum class Fanout { kChain, kStar };

struct RelayNode {
  AgentAddress agent;  // HOST:PORT (reachable from the host and from the previous node) and this node's own key
  std::string name;    // in reports; empty: agent.agent
  // How the previous node reaches this one (numeric ADDR:PORT), when not as
  // the host does (another network; a test's fault proxy); empty: agent.agent.
  std::string relay_address;
};

struct RelayOptions {
  // Image, target, .bmap, holes, verify, compress, retries, stall timeout …
  // as for one node; push.agent and push.on_progress are ignored (nodes and
  // on_progress below). push.delta is refused with kChain.
  PushOptions push;
  std::vector<RelayNode> nodes;  // chain order: the host streams to nodes[0]
  Fanout fanout = Fanout::kChain;
  // A node whose applied watermark trails the head's position by more than
  // this is cut out (it fell behind its neighbours).
  uint64_t max_lag = 512ull << 20;
  // A hop whose downstream takes no frame for this long stops holding the
  // chain back; its upstream catches it up from its own disk later.
  std::chrono::milliseconds hop_stall{5000};
  // Star: pushes at once.
  int parallel = 8;
  // Per node (index into nodes): the head's push progress, the others'
  // from their RELAY_STATUS (position = applied, acked = durable).
  std::function<void(size_t node, const Progress&)> on_progress;
};

struct RelayNodeResult {
  std::string name;
  std::string agent;
  bool ok = false;       // holds the image: its read-back matched the host's digest
  std::string step;      // where it failed: "connect", "relay", "stream", "verify"
  std::string error;     // why (empty when ok)
  uint64_t bytes = 0;    // image bytes durable on it (its watermark)
  double seconds = 0;    // from the start of the push to its verify
  bool verified = false;
  std::string verify_message;
  int hop_reconnects = 0;  // reconnects of the hop into it (transient drops resumed)
  bool head = false;       // the host streamed to it directly
  double mb_per_s() const { return seconds > 0 ? bytes / 1e6 / seconds : 0; }
};

struct RelayResult {
  std::vector<RelayNodeResult> nodes;  // in RelayOptions::nodes order
  uint64_t image_size = 0;
  double seconds = 0;
  uint64_t host_bytes_sent = 0;  // image bytes the host sent in DATA frames, all heads together
  Fanout fanout = Fanout::kChain;
  size_t failed() const;
};

// Exit status of `mkmaster push` with several agents: 0 every node holds
// the image, 3 some nodes failed (the others hold it), 1 none does.
inline constexpr int kExitSomeNodesFailed = 3;

// Throws only when nothing could start (no node, a bad image, --delta with a
// chain); per-node failures are in the result.
RelayResult push_relay(const RelayOptions& options);

}  // namespace push
