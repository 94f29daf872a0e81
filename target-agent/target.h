#pragma once
// The thing being written: a block device, or (only with --allow-file) a
// regular file. Size, sector size and mount state for TARGET_INFO/OPENED.
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
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
  // Longest wait for the host to take bytes we send (and TCP_USER_TIMEOUT),
  // and for each handshake frame: a stopped or vanished host releases the
  // connection, and its session, in this time.
  std::chrono::milliseconds io_timeout{30000};
  // Longest silence of an authenticated host between requests (it may be
  // reading its image source, or resuming); then the connection is closed
  // and the session kept for a resume.
  std::chrono::milliseconds idle_timeout{300000};
  // Sees, and may change, each read of VERIFY before it is digested (offset
  // of the read, its bytes): lets a test play a disk that returns wrong
  // data. Unset in the agent binary.
  std::function<void(uint64_t offset, std::span<uint8_t> bytes)> verify_read_hook;
};

// Resolves the path a request names ("" → --target) and checks it is one
// the agent may touch. Throws ProtocolError(kNotAllowed / kNotFound).
std::string resolve_target(const AgentConfig& cfg, const std::string& requested);

// Inspects without opening for write. Throws ProtocolError(kNotFound/kIo).
mkproto::TargetInfo inspect_target(const AgentConfig& cfg, const std::string& path);

}  // namespace agent
