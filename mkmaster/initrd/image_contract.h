#pragma once
// What a booted master image promises the flash pipeline (mkmaster/flash):
// where its programs are and how the agent is started. The image builder
// puts them there; the pipeline types them on the node's console. Defined
// once here so the two cannot drift.
namespace initrd::contract {

// The static armhf agent (docs/manifest.md).
inline constexpr const char* kAgentPath = "/sbin/target-agent";
// configure_networking, as the LAVA Highbank setup calls it.
inline constexpr const char* kFunctionsPath = "/scripts/functions";
inline constexpr const char* kNetworkingCommand = ". /scripts/functions; DEVICE=eth0 configure_networking";
// skel/start-agent: starts the agent in the background and returns once it
// listens (exit 0) or has died (exit 1, its log on stdout).
//   start-agent PORT SECRET_FILE TARGET STATE_DIR [AGENT_OPTION…]
inline constexpr const char* kStartAgentPath = "/sbin/mkmaster-start-agent";
// Where the pipeline keeps the one-time secret and the agent's log and pid
// on the node (tmpfs in the initrd; never on the disk being flashed).
inline constexpr const char* kStateDir = "/tmp/.mk";
// The disk a node is flashed to unless --target says otherwise.
inline constexpr const char* kDefaultTarget = "/dev/sda";

}  // namespace initrd::contract
