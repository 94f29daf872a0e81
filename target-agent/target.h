#pragma once
// The thing being written: a block device, or (only with --allow-file) a
// regular file. Size, sector size and mount state for TARGET_INFO/OPENED.
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "protocol/auth.h"
#include "protocol/messages.h"
#include "target-agent/address_range.h"

namespace agent {

struct AgentConfig {
  std::string listen = "0.0.0.0:7070";
  mkproto::Key key{};
  std::string target;  // --target: the only path OPEN may name ("" = any)
  bool allow_file = false;
  std::string mounts_file = "/proc/self/mounts";
  std::string sys_root = "/sys";
  std::string proc_root = "/proc";  // every /proc/PID/mountinfo (all mount namespaces)
  std::string swaps_file = "/proc/swaps";
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

  // Admission (server.cpp, admission.h). The whole handshake must finish
  // within handshake_timeout (a slowloris that trickles bytes is cut too).
  std::chrono::milliseconds handshake_timeout{5000};
  // At stop, the longest wait for connection threads once their sockets are
  // shut down (server.h says what happens to one still running).
  std::chrono::milliseconds stop_timeout{10000};
  // Unauthenticated connections: at most this many, the oldest is evicted
  // for a new one. They never count against max_authenticated.
  size_t max_preauth = 8;
  size_t max_authenticated = 8;
  // --allow-from: peers that may connect at all (empty: any).
  std::vector<AddressRange> allow_from;

  // Least privilege (file_ops.cpp). EXEC only with allow_exec; GET_FILE and
  // PUT_FILE only with a files_root, and only beneath it.
  bool allow_exec = false;
  std::string files_root;
  uint64_t max_file_size = 256ull << 20;  // PUT_FILE's announced size
  bool allow_setid = false;               // else a setuid/setgid PUT_FILE mode is refused
};

// Resolves the path a request names ("" → --target) and checks it is one
// the agent may touch. Throws ProtocolError(kNotAllowed / kNotFound).
std::string resolve_target(const AgentConfig& cfg, const std::string& requested);

// Inspects without opening for write. Throws ProtocolError(kNotFound/kIo).
mkproto::TargetInfo inspect_target(const AgentConfig& cfg, const std::string& path);

// Before OPEN writes: throws ProtocolError kMounted (info.mounted), kSwap
// or kHeld (target_use.h) naming the device and its user.
void refuse_if_in_use(const AgentConfig& cfg, const mkproto::TargetInfo& info);

// Opens the target for writing; a block device exclusively (O_EXCL: no
// mount, swapon or dm/md can claim it while the session holds it). Throws
// ProtocolError(kBusy, kIo).
int open_target_for_write(const mkproto::TargetInfo& info);

}  // namespace agent
