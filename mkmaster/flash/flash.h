#pragma once
// `mkmaster push IMAGE NODE…`: the whole flash of one or more nodes, from
// power-off to booting the flashed disk, as a pipeline of named steps, each
// timed, logged and bounded (as a LAVA deploy is):
//
//   check-image → power-off → bootdev-pxe → console-connect → power-on → boot-master
//   (initrd prompt on the console) → configure-network → send-secret →
//   start-agent → stream-image (push::push_image) → verify → bootdev-disk
//   → power-reset (or, with leave_off, leave-off) → [wait-login]
//
// A failure names node and step. SIGINT/SIGTERM (once
// base::install_interrupt_handlers() ran) stops each node at its current
// step and leaves it in a defined state (docs/lab.md "Interrupting a
// push"): SOL session ended; unless the verified disk was already
// selected, boot device PXE (persistent) and power off, which stops the
// agent and its secret with the node's RAM, and keeps the partial disk from
// booting. Nodes run in parallel (bounded); each has
// <log_dir>/<node>.log (steps, masked commands) and <node>.console.log (the
// timestamped console transcript). Power and console come through the
// narrow interfaces of bmc/node_access.h, the data path through
// push::push_image (and, for a chain, FlashOptions::push_relay), so tests
// replace each with a fake.
//
// With Fanout::kChain and more than one node, the pipeline runs in three
// rounds: every node boots its master image and starts its agent (at most
// `parallel` at once); then one relay push streams the image once, to the
// nodes that got that far, in the order given (each node's stream-image
// step reports its own outcome: a node cut out of the relay fails there,
// the others go on); then each verified node gets verify, bootdev-disk and
// the reset (again `parallel` at once). A node that is slow to boot holds
// the relay back until it is ready or its boot times out: nodes do not
// join a running chain at its tail (docs/scaling.md says why).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "mkmaster/bmc/node_access.h"
#include "mkmaster/initrd/image_contract.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/push/push.h"
#include "mkmaster/push/relay_push.h"

namespace flash {

struct StepTimeouts {
  std::chrono::seconds console{15};   // console-connect: each attempt to open the SOL session
  std::chrono::seconds boot{600};     // boot-master: power-on until the initrd prompt
  std::chrono::seconds network{180};  // configure-network
  std::chrono::seconds agent{120};    // send-secret + start-agent
  // stream-image is bounded by the push's own stall_timeout (FlashOptions::push).
  std::chrono::seconds login{900};    // wait-login
};

// One step event: "start", "done", "failed", "progress", "interrupted"
// (message: the signal), or "cleanup" (step: the cleanup action, message:
// "done" or "failed: why") after an interrupt.
struct NodeEvent {
  std::string node;
  std::string step;
  std::string event;
  double seconds = 0;   // since the step started (done/failed/progress)
  std::string message;  // error, or progress text
};

// A node's BMC as the pipeline sees it.
struct NodeAccess {
  std::unique_ptr<bmc::PowerControl> power;
  std::unique_ptr<bmc::Console> console;
  std::vector<std::string> secrets;  // masked in every log line (the BMC password)
  std::string login_prompt;          // regex of the flashed system's login prompt
};
struct AccessRequest {
  std::string transcript_path;  // <log_dir>/<node>.console.log
  std::chrono::milliseconds connect_timeout{60000};
  base::LogFn log;              // lines for the node's log
};
using AccessFactory = std::function<NodeAccess(const lab::Node& node, const AccessRequest& request)>;
// The real one: ipmitool templates and SOL from the node's device config.
NodeAccess bmc_access(const lab::Node& node, const AccessRequest& request);

// What the pipeline types on the node: the master image's contract by
// default; tests point it at a host shell and a native agent.
struct NodeCommands {
  std::string networking = initrd::contract::kNetworkingCommand;
  std::string start_agent = initrd::contract::kStartAgentPath;
  std::vector<std::string> agent_options;  // extra target-agent options (quoted when typed)
  std::string state_dir = initrd::contract::kStateDir;
};

// One node of a relay push as the pipeline hands it over: its own push
// options (agent address, one-time key, target, progress callback) on top
// of the user's.
struct RelayNode {
  std::string node;
  push::PushOptions push;
};
struct RelayOutcome {
  bool ok = false;
  std::string error;  // why the node failed or was cut out of the chain
  push::PushResult push;
};
// Streams the image once through the nodes, in order; one outcome per node,
// in the same order. Throws only when the relay as a whole could not run.
using RelayPushFn = std::function<std::vector<RelayOutcome>(const std::vector<RelayNode>& nodes)>;

struct FlashOptions {
  // The image and how it is streamed, as `mkmaster push` takes them. The
  // pipeline fills in each node's agent address and key; an empty target
  // means the image contract's default disk.
  push::PushOptions push;
  std::vector<std::string> nodes;  // names as the inventory accepts them
  int parallel = 4;                // nodes at once
  std::string log_dir = "mkmaster-logs";
  bool wait_login = false;         // wait for login_prompt after the reset
  // Instead of resetting the flashed node, power it off (the disk stays the
  // boot device): whoever boots it next — LAVA's boot action — connects its
  // console first and sees the whole boot (docs/lava.md).
  bool leave_off = false;
  NodeCommands on_node;
  std::chrono::seconds prompt_poke{15};  // console silence before typing ^U CR to get a prompt
  StepTimeouts timeouts;
  AccessFactory access;  // default: bmc_access
  std::function<push::PushResult(const push::PushOptions&)> push_image;  // default: push::push_image
  // kStar: one push per node, as each is ready (the host's link is shared);
  // kChain: one relay push through all ready nodes. With one node ready,
  // either is one push_image.
  push::Fanout fanout = push::Fanout::kChain;
  RelayPushFn push_relay;  // the chain's data path (mkmaster: relay_push_fn(push::push_relay))
  // check-image: opens the image before any node is touched; default: push::check_image.
  std::function<std::string(const push::PushOptions&)> check_image;
  // Step events (progress line, --json); serialised across nodes.
  std::function<void(const NodeEvent&)> on_event;
};

struct StepTiming {
  std::string step;
  double seconds = 0;
};

struct NodeResult {
  std::string node;
  bool ok = false;
  std::string failed_step;  // "" when ok; the step a signal interrupted
  int interrupted = 0;      // SIGINT/SIGTERM if a signal stopped the node
  std::string error;        // "<node>: step <step> failed after … s: <why>"
  std::vector<StepTiming> steps;
  push::PushResult push;
};

// Flashes every node in options.nodes; never throws for a node's failure
// (see the results), only for bad options (unknown node, node given twice).
std::vector<NodeResult> flash_nodes(const lab::Inventory& inventory, const FlashOptions& options);

// A fresh one-time secret: 32 random bytes (libsodium), hex.
std::string generate_secret();

}  // namespace flash
