#pragma once
// One node's way through the pipeline, split where a relay must wait for
// the other nodes: boot_to_agent (check-image … start-agent), the
// stream-image step (stream_alone with push_image; the chain's comes from
// relay_round.h), and finish (verify … power-reset / leave-off,
// wait-login). The state that outlives a round — the node's step runner,
// its BMC access, its one-time secret, how far it got — lives in NodeRun,
// and guarded() gives every round the same failure handling.
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mkmaster/flash/flash.h"
#include "mkmaster/flash/step_runner.h"

namespace flash {

// How far a node got, for the clean-up after a failure or an interrupt.
struct Reached {
  bool touched = false;        // its first step began: the BMC may have acted
  bool pxe_armed = false;      // power-on began: until the verified disk is selected, the node must boot PXE
  bool disk_selected = false;  // bootdev-disk done: the disk holds the verified image
};

struct NodeRun {
  // Opens the node's log and its BMC access (opt.access or bmc_access) and
  // draws its secret; throws when there is no power control or console.
  NodeRun(const lab::Node& node, const FlashOptions& opt, std::mutex& event_mu, NodeResult& result);

  const lab::Node& node;
  const FlashOptions& opt;
  NodeResult& result;
  StepRunner run;
  NodeAccess access;
  std::string secret;  // the one-time secret typed on the console, masked everywhere
  std::string target;  // the disk on the node
  // In a chain: the other nodes' agent_host, which the node's agent must
  // also accept connections from (a relay hop comes from its upstream
  // neighbour, which a cut-out can make any of them).
  std::vector<std::string> relay_peers;
  Reached reached;
};

// Runs fn; on a failure after power-on and before the verified disk was
// selected, sets the boot device back to PXE (best effort: the failure is
// what the user must see); on an interrupt, leaves the node in the
// defined state (flash.h) and rethrows with that state in the message.
void guarded(NodeRun& n, const std::function<void()>& fn);

void boot_to_agent(NodeRun& n);
// The node's stream-image options: the user's, aimed at this node's agent,
// with its progress reported as the current step's.
push::PushOptions node_push_options(NodeRun& n);
// stream-image on its own: push::push_image (or opt.push_image).
void stream_alone(NodeRun& n);
void finish(NodeRun& n);

}  // namespace flash
