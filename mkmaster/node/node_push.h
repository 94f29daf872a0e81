#pragma once
// The whole flash of one or more nodes, from power-off to booting the
// flashed disk (LAVA-style named steps, each timed, logged and bounded):
//
//   power-off → bootdev-pxe → console-connect → power-on → boot-master
//   (initrd prompt on the console) → configure-network → send-secret →
//   start-agent → stream-image (push::push_image) → verify → bootdev-disk
//   → power-reset → [wait-login]
//
// A failure names node and step. Nodes run in parallel (bounded); each has
// <log_dir>/<node>.log (steps, masked commands) and <node>.console.log (the
// timestamped console transcript).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mkmaster/node/inventory.h"

namespace mknode {

struct StepTimeouts {
  std::chrono::seconds console{60};      // console-connect
  std::chrono::seconds boot{600};        // boot-master: power-on until the initrd prompt
  std::chrono::seconds network{180};     // configure-network
  std::chrono::seconds agent{120};       // send-secret + start-agent
  std::chrono::seconds stream{7200};     // stream-image: per-I/O timeout of the push
  std::chrono::seconds login{900};       // wait-login
};

// One step event: "start", "done", "failed" or "progress".
struct NodeEvent {
  std::string node;
  std::string step;
  std::string event;
  double seconds = 0;   // since the step started (done/failed/progress)
  std::string message;  // error, or progress text
};

// How the image is streamed: the direct `mkmaster push` options that apply
// to a node's stream-image step as well.
struct StreamOptions {
  std::string bmap;          // --bmap
  bool skip_holes = false;   // --holes=skip
  bool delta = false;        // --delta: send only blocks the disk does not hold
  bool compress = false;     // --compress
  bool verify_kept = false;  // --verify-all
  int retries = 5;           // --retries
};

// What stream-image needs, handed to the push function.
struct StreamRequest {
  std::string node;
  std::string image;
  std::string agent;   // HOST:PORT
  std::string secret;  // the one-time secret typed to the agent (derive the key from it)
  std::string target;  // device on the node
  bool verify = true;
  StreamOptions options;
  std::chrono::seconds io_timeout{7200};
  std::function<void(const std::string& progress)> on_progress;
};
struct StreamResult {
  std::uint64_t image_size = 0;
  double seconds = 0;
  bool verified = false;
  std::string verify_message;
};
using StreamFn = std::function<StreamResult(const StreamRequest&)>;

struct NodePushOptions {
  std::string image;                 // path or URL, as push_image takes it
  std::vector<std::string> nodes;    // names as the inventory accepts them
  int parallel = 4;                  // nodes at once
  std::string log_dir = "mkmaster-logs";
  bool wait_login = false;           // wait for login_prompt after the reset
  bool verify = true;
  StreamOptions stream_options;
  std::string target = "/dev/sda";
  // On the node (the initrd of `mkmaster build`):
  std::string networking = ". /scripts/functions; DEVICE=eth0 configure_networking";
  std::string agent_command = "/sbin/target-agent serve";  // + --listen/--secret-file/--target
  std::string state_dir = "/tmp/.mk";                       // secret file and agent log
  std::chrono::seconds prompt_poke{15};  // console silence before typing ^U CR to get a prompt
  StepTimeouts timeouts;
  // The data path; default: push::push_image (mkmaster/push).
  StreamFn stream;
  // Step events (progress line, --json); called from the node's thread,
  // serialised by run_node_push.
  std::function<void(const NodeEvent&)> on_event;
};

struct StepTiming {
  std::string step;
  double seconds = 0;
};

struct NodePushResult {
  std::string node;
  bool ok = false;
  std::string failed_step;  // "" when ok
  std::string error;        // "<node>: <step>: <why>"
  std::vector<StepTiming> steps;
  StreamResult stream;
};

// Flashes every node in options.nodes; never throws for a node's failure
// (see the results), only for bad options (unknown node, bad config).
std::vector<NodePushResult> run_node_push(const Inventory& inventory, const NodePushOptions& options);

// The default StreamFn: push::push_image with the key derived from the secret.
StreamResult push_with_agent(const StreamRequest& request);

// A fresh one-time secret: 32 random bytes (libsodium), hex.
std::string generate_secret();

}  // namespace mknode
