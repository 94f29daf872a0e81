#pragma once
// Error codes carried by ERROR frames and ProtocolError (docs/protocol.md,
// "Error codes"). Values are part of the wire format: never renumber.
#include <cstdint>
#include <stdexcept>
#include <string>

namespace mkproto {

enum class ErrorCode : uint16_t {
  kNone = 0,
  // framing
  kBadMagic = 1,
  kBadVersion = 2,       // frame version or no common protocol version
  kBadChecksum = 3,
  kTooLarge = 4,         // frame length above the limit for its type/state
  kBadType = 5,
  kBadSequence = 6,
  kMalformed = 7,        // payload does not decode as its type
  kUnexpected = 8,       // valid frame, wrong in this state
  // authentication
  kNotAuthenticated = 20,
  kAuthFailed = 21,
  kBadMac = 22,          // frame tag mismatch after the handshake: forged, replayed, reflected or corrupted
  // target / session
  kNotAllowed = 30,      // regular file without --allow-file, not a block device, other target than --target
  kMounted = 31,
  kImageTooLarge = 32,
  kNoSession = 33,
  kOutOfOrder = 34,      // frame offset is not where the previous one ended (a gap or an overlap)
  kOutOfRange = 35,      // frame reaches past the image size
  kIncomplete = 36,      // FINISH before every byte was covered
  kBusy = 37,            // another session holds the target
  kBadRequest = 38,      // request arguments out of bounds
  // I/O on the node
  kIo = 50,
  kNotFound = 51,
  kExec = 52,
  // host side only (never sent)
  kConnection = 60,
  kVerifyMismatch = 61,
  // the node (after the host-only codes: values are never renumbered)
  kSwap = 62,            // target or one of its partitions is an active swap area
  kHeld = 63,            // target or one of its partitions is held by dm/md/LVM (sysfs holders)
  kNotOffered = 64,      // EXEC or file operations, and the agent was not started with them
  kPathRefused = 65,     // a file path outside --files-root: '..', absolute elsewhere, or a symlink
};

const char* error_name(ErrorCode code);

// Every protocol failure: a specific code plus a complete message.
struct ProtocolError : std::runtime_error {
  ProtocolError(ErrorCode c, const std::string& message);
  ErrorCode code;
  std::string detail;  // the message without the "[code-name]" suffix (what goes on the wire)
};

// The peer closed the connection (or it broke): resumable, unlike most
// ProtocolErrors.
struct ConnectionClosed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace mkproto
