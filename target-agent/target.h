#pragma once
// The thing being written: a block device, or (only with --allow-file) a
// regular file. Size, sector size and mount state for TARGET_INFO/OPENED.
#include <string>

#include "protocol/auth.h"
#include "protocol/messages.h"

namespace agent {

struct AgentConfig {
  std::string listen = "0.0.0.0:7070";
  mkproto::Key key{};
  std::string target;  // --target: the only path OPEN may name ("" = any)
  bool allow_file = false;
  std::string mounts_file = "/proc/self/mounts";
  std::string sys_root = "/sys";
  std::string name;  // "target-agent <version>"
};

// Resolves the path a request names ("" → --target) and checks it is one
// the agent may touch. Throws ProtocolError(kNotAllowed / kNotFound).
std::string resolve_target(const AgentConfig& cfg, const std::string& requested);

// Inspects without opening for write. Throws ProtocolError(kNotFound/kIo).
mkproto::TargetInfo inspect_target(const AgentConfig& cfg, const std::string& path);

}  // namespace agent
