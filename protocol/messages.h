#pragma once
// Message payloads, one struct per frame type (docs/protocol.md, "Frame
// types"). Each declares its frame type and its fields in wire order;
// encode(m) gives the Frame and decode<M>(f) checks the type and every field
// (protocol/codec.h). DATA, FILE_DATA and OUTPUT carry raw bytes, not a
// message: their senders build the Frame themselves.
#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/codec.h"
#include "protocol/delta_hash.h"
#include "protocol/frame.h"

namespace mkproto {

// 2: every frame after the handshake is authenticated; 1 is refused.
inline constexpr uint16_t kProtocolVersion = 2;
inline constexpr size_t kNonceSize = 32;
inline constexpr size_t kMacSize = 32;
inline constexpr size_t kSessionIdSize = 16;
inline constexpr size_t kMaxPath = 4096;
inline constexpr size_t kMaxText = 512;
// Per-block hash/digest limits (HASH_REQUEST, VERIFY).
inline constexpr uint32_t kMinBlock = 4096;
inline constexpr uint32_t kMaxBlock = 16u << 20;
inline constexpr size_t kMaxHashesPerFrame = 8192;
inline constexpr size_t kMaxDigestsPerFrame = 4096;
inline constexpr size_t kMaxArgs = 256;

inline constexpr Str kPath{kMaxPath};
inline constexpr Str kFilePath{.max = kMaxPath, .non_empty = true};
inline constexpr Str kArg{.max = kMaxPath, .no_nul = true};
inline constexpr Str kName{kMaxText};
inline constexpr PowerOfTwo kBlockSize{kMinBlock, kMaxBlock};

using Nonce = std::array<uint8_t, kNonceSize>;
using Mac = std::array<uint8_t, kMacSize>;
using SessionId = std::array<uint8_t, kSessionIdSize>;

enum class HolesMode : uint8_t { kZero = 0, kSkip = 1 };
constexpr WireEnum wire_enum(HolesMode) { return {0, 1, "holes mode"}; }
enum class SkipReason : uint8_t { kKeep = 0, kDontCare = 1 };
constexpr WireEnum wire_enum(SkipReason) { return {0, 1, "skip reason"}; }
enum class TargetKind : uint8_t { kBlockDevice = 1, kRegularFile = 2 };
constexpr WireEnum wire_enum(TargetKind) { return {1, 2, "target kind"}; }
// What VERIFY reads back. kAll: every byte that is not dont-care. kWritten:
// also leaves out SKIP keep ranges — delta blocks this session compared by
// hash against the target instead of writing them.
enum class VerifyScope : uint8_t { kAll = 0, kWritten = 1 };
constexpr WireEnum wire_enum(VerifyScope) { return {0, 1, "verify scope"}; }
constexpr WireEnum wire_enum(HashKind) { return {0, 1, "hash kind"}; }

// When VERIFY reads back (docs/protocol.md, "Verify while the image
// streams"): after FINISHED, as asked; or, asked right after OPENED, while
// the image streams — always, or unless the target's disk is rotational.
enum class VerifyOverlap : uint8_t { kAfterFinish = 0, kAuto = 1, kAlways = 2 };
constexpr WireEnum wire_enum(VerifyOverlap) { return {0, 2, "verify overlap"}; }
// Any code decodes: one this side does not know still reaches the user with
// the peer's message.
constexpr WireEnum wire_enum(ErrorCode) { return {0, UINT16_MAX, "error code"}; }

struct Hello {
  static constexpr FrameType kType = FrameType::kHello;
  uint16_t min_version = kProtocolVersion, max_version = kProtocolVersion;
  Nonce nonce{};
  std::string client;
  static void fields(auto& m, auto& c) {
    c(m.min_version, "min_version");
    c(m.max_version, "max_version", AtLeast{m.min_version, "min_version"});
    c(m.nonce, "nonce");
    c(m.client, "client", kName);
  }
};
struct Challenge {
  static constexpr FrameType kType = FrameType::kChallenge;
  uint16_t version = kProtocolVersion;
  Nonce nonce{};
  std::string agent;
  static void fields(auto& m, auto& c) {
    c(m.version, "version");
    c(m.nonce, "nonce");
    c(m.agent, "agent", kName);
  }
};
struct Auth {
  static constexpr FrameType kType = FrameType::kAuth;
  Mac mac{};
  static void fields(auto& m, auto& c) { c(m.mac, "mac"); }
};
struct AuthOk {
  static constexpr FrameType kType = FrameType::kAuthOk;
  Mac mac{};
  static void fields(auto& m, auto& c) { c(m.mac, "mac"); }
};
struct ErrorMsg {
  static constexpr FrameType kType = FrameType::kError;
  ErrorCode code = ErrorCode::kNone;
  uint64_t watermark = 0;
  std::string message;
  static void fields(auto& m, auto& c) {
    c(m.code, "code");
    c(m.watermark, "watermark");
    c(m.message, "message", Str{.max = kMaxText, .truncate = true});
  }
};
struct TargetQuery {
  static constexpr FrameType kType = FrameType::kTargetQuery;
  std::string path;  // empty: the agent's --target
  static void fields(auto& m, auto& c) { c(m.path, "path", kPath); }
};
struct TargetInfo {
  static constexpr FrameType kType = FrameType::kTargetInfo;
  std::string path;
  TargetKind kind = TargetKind::kBlockDevice;
  uint64_t size = 0;
  uint32_t sector_size = 512;
  bool mounted = false;
  std::string mount_point;
  static void fields(auto& m, auto& c) {
    c(m.path, "path", kPath);
    c(m.kind, "kind");
    c(m.size, "size");
    c(m.sector_size, "sector_size", PowerOfTwo{1, 65536});
    c(m.mounted, "mounted");
    c(m.mount_point, "mount_point", kPath);
  }
};
// OPEN's image_size when the host learns the size only at the end of the
// image (a compressed stream that does not record it): placements are then
// bounded by the target's size, and FINISH tells the size.
inline constexpr uint64_t kImageSizeUnknown = UINT64_MAX;

struct Open {
  static constexpr FrameType kType = FrameType::kOpen;
  SessionId session{};
  std::string path;
  uint64_t image_size = 0;  // or kImageSizeUnknown
  HolesMode holes = HolesMode::kZero;
  static void fields(auto& m, auto& c) {
    c(m.session, "session");
    c(m.path, "path", kPath);
    c(m.image_size, "image_size");
    c(m.holes, "holes");
  }
};
struct Opened {
  static constexpr FrameType kType = FrameType::kOpened;
  uint64_t watermark = 0;
  bool resumed = false;
  TargetInfo target;
  static void fields(auto& m, auto& c) {
    c(m.watermark, "watermark");
    c(m.resumed, "resumed");
    c(m.target, "target");
  }
};
// [offset, offset + length) must read back as zeros.
struct Zero {
  static constexpr FrameType kType = FrameType::kZero;
  uint64_t offset = 0;
  uint64_t length = 0;
  static void fields(auto& m, auto& c) {
    c(m.offset, "offset", FrameOffset{});
    c(m.length, "length", RangeAt{m.offset});
  }
};
// [offset, offset + length) is not written.
struct Skip {
  static constexpr FrameType kType = FrameType::kSkip;
  uint64_t offset = 0;
  uint64_t length = 0;
  SkipReason reason = SkipReason::kKeep;
  static void fields(auto& m, auto& c) {
    c(m.offset, "offset", FrameOffset{});
    c(m.length, "length", RangeAt{m.offset});
    c(m.reason, "reason");
  }
};
struct Sync {
  static constexpr FrameType kType = FrameType::kSync;
  static void fields(auto&, auto&) {}
};
// durable: the prefix fdatasync'ed. applied: the prefix written (not yet
// synced; >= durable) — a progress ACK, sent on time, says the agent and its
// disk are moving without claiming durability. Absent on the wire (8-byte
// payload) = 0: not told.
struct Ack {
  static constexpr FrameType kType = FrameType::kAck;
  uint64_t durable = 0;
  uint64_t applied = 0;
  static void fields(auto& m, auto& c) {
    c(m.durable, "durable");
    c(m.applied, "applied", Trailing{});
  }
};
struct Finish {
  static constexpr FrameType kType = FrameType::kFinish;
  uint64_t image_size = 0;
  static void fields(auto& m, auto& c) { c(m.image_size, "image_size"); }
};
struct Finished {
  static constexpr FrameType kType = FrameType::kFinished;
  uint64_t watermark = 0;
  static void fields(auto& m, auto& c) { c(m.watermark, "watermark"); }
};
// Hash [offset, offset + length) in blocks of `block` bytes.
struct HashRequest {
  static constexpr FrameType kType = FrameType::kHashRequest;
  uint64_t offset = 0;
  uint64_t length = 0;
  uint32_t block = 0;
  HashKind kind = HashKind::kKeyed;  // absent on the wire (12-byte payload) = kKeyed
  static void fields(auto& m, auto& c) {
    c(m.offset, "offset", FrameOffset{});
    c(m.length, "length", RangeAt{m.offset});
    c(m.block, "block", kBlockSize);
    c(m.kind, "kind", Trailing{});
  }
};
struct Hashes {
  static constexpr FrameType kType = FrameType::kHashes;
  uint64_t offset = 0;  // of the first block
  std::vector<uint64_t> hashes;
  static void fields(auto& m, auto& c) {
    c(m.offset, "offset", FrameOffset{});
    c(m.hashes, "count", List<uint32_t>{.item = "hash", .max = kMaxHashesPerFrame});
  }
};
struct HashesEnd {
  static constexpr FrameType kType = FrameType::kHashesEnd;
  static void fields(auto&, auto&) {}
};
struct Verify {
  static constexpr FrameType kType = FrameType::kVerify;
  uint32_t block = 0;
  VerifyScope scope = VerifyScope::kAll;  // absent on the wire (4-byte payload) = kAll
  VerifyOverlap overlap = VerifyOverlap::kAfterFinish;  // absent = kAfterFinish
  static void fields(auto& m, auto& c) {
    c(m.block, "block", kBlockSize);
    c(m.scope, "scope", Trailing{});
    c(m.overlap, "overlap", Trailing{});
  }
};
struct Digests {
  static constexpr FrameType kType = FrameType::kDigests;
  uint64_t offset = 0;  // of the first block
  std::vector<Digest128> digests;
  static void fields(auto& m, auto& c) {
    c(m.offset, "offset", FrameOffset{});
    c(m.digests, "count", List<uint32_t>{.item = "digest", .max = kMaxDigestsPerFrame});
  }
};
struct VerifyEnd {
  static constexpr FrameType kType = FrameType::kVerifyEnd;
  Digest128 overall{};  // XXH3-128 over the concatenated block digests
  uint64_t bytes_read = 0;
  bool direct_io = false;  // read back with O_DIRECT (else fadvise DONTNEED + re-read)
  // An overlapped VERIFY read back while the image streamed (absent = 0:
  // after FINISH — also an overlapped one deferred on a rotational disk).
  bool overlapped = false;
  static void fields(auto& m, auto& c) {
    c(m.overall, "overall");
    c(m.bytes_read, "bytes_read");
    c(m.direct_io, "direct_io");
    c(m.overlapped, "overlapped", Trailing{});
  }
};
// After FINISHED: [offset, offset + length) is rewritten by the placement
// frames that follow (docs/protocol.md, "Repair").
struct Repair {
  static constexpr FrameType kType = FrameType::kRepair;
  uint64_t offset = 0;
  uint64_t length = 0;
  static void fields(auto& m, auto& c) {
    c(m.offset, "offset", FrameOffset{});
    c(m.length, "length", RangeAt{m.offset});
  }
};
struct GetFile {
  static constexpr FrameType kType = FrameType::kGetFile;
  std::string path;
  static void fields(auto& m, auto& c) { c(m.path, "path", kFilePath); }
};
struct PutFile {
  static constexpr FrameType kType = FrameType::kPutFile;
  std::string path;
  uint64_t size = 0;
  uint32_t mode = 0644;
  static void fields(auto& m, auto& c) {
    c(m.path, "path", kFilePath);
    c(m.size, "size");
    c(m.mode, "mode", AtMost{07777});
  }
};
// mode: the file's permission bits as the agent found them (GET_FILE; what
// `mkmaster pull` gives its copy). Absent on the wire (24-byte payload) = 0:
// not told; the host ignores it in PUT_FILE's FILE_END.
struct FileEnd {
  static constexpr FrameType kType = FrameType::kFileEnd;
  uint64_t size = 0;
  Digest128 digest{};
  uint32_t mode = 0;
  static void fields(auto& m, auto& c) {
    c(m.size, "size");
    c(m.digest, "digest");
    c(m.mode, "mode", Trailing{});
  }
};
struct FileDone {
  static constexpr FrameType kType = FrameType::kFileDone;
  static void fields(auto&, auto&) {}
};
struct ExecMsg {
  static constexpr FrameType kType = FrameType::kExec;
  std::vector<std::string> argv;
  uint32_t timeout_s = 0;  // 0: none
  static void fields(auto& m, auto& c) {
    c(m.timeout_s, "timeout_s");
    c(m.argv, "argc", List<uint16_t, Str>{.item = "argv", .min = 1, .max = kMaxArgs, .item_rule = kArg});
  }
};
struct ExitMsg {
  static constexpr FrameType kType = FrameType::kExit;
  int32_t status = 0;  // exit code, or the signal number when signaled
  bool signaled = false;
  bool timed_out = false;
  static void fields(auto& m, auto& c) {
    c(m.status, "status");
    c(m.signaled, "signaled");
    c(m.timed_out, "timed_out");
  }
};
// revoke: the host is done with this agent for good (the node pipeline's
// last BYE): the agent forgets its secret and exits, so the secret typed on
// the console opens nothing afterwards. Absent on the wire (empty payload) =
// false: the agent keeps serving.
struct Bye {
  static constexpr FrameType kType = FrameType::kBye;
  bool revoke = false;
  static void fields(auto& m, auto& c) { c(m.revoke, "revoke", Trailing{}); }
};


// Relay (docs/protocol.md, "Relay"). The key of one hop: random, issued by
// the host over a control connection; the hop's handshake uses it as its Key.
using HopKey = std::array<uint8_t, 32>;
// From now on also accept one relay connection authenticated with `key`,
// for OPEN of `session` only (an all-zero key: none).
struct RelayAccept {
  static constexpr FrameType kType = FrameType::kRelayAccept;
  SessionId session{};
  HopKey key{};
  static void fields(auto& m, auto& c) {
    c(m.session, "session");
    c(m.key, "key");
  }
};
// Forward `session` to `address` over a hop keyed by `key` (empty address:
// forward nothing). stall_ms: a downstream that takes no frame this long
// stops holding the chain back (it is caught up from the disk later).
struct RelayConnect {
  static constexpr FrameType kType = FrameType::kRelayConnect;
  SessionId session{};
  std::string address;
  HopKey key{};
  uint32_t stall_ms = 5000;
  static void fields(auto& m, auto& c) {
    c(m.session, "session");
    c(m.address, "address", Str{.max = 256, .no_nul = true});
    c(m.key, "key");
    c(m.stall_ms, "stall_ms");
  }
};
enum class HopState : uint8_t { kNone = 0, kConnecting = 1, kLive = 2, kCatchingUp = 3, kFailed = 4, kDone = 5 };
constexpr WireEnum wire_enum(HopState) { return {0, 5, "hop state"}; }
// The agent's view of the relayed session, on its control connection.
struct RelayStatus {
  static constexpr FrameType kType = FrameType::kRelayStatus;
  uint64_t durable = 0;   // this node's durable watermark
  uint64_t applied = 0;   // received, validated and handed to its writer in order, >= durable
  bool finished = false;  // FINISH done: the whole image is durable here
  HopState hop = HopState::kNone;
  uint64_t hop_durable = 0;     // the downstream's durable watermark as its ACKs tell
  uint32_t hop_reconnects = 0;  // of the hop this node opens
  std::string message;          // why the hop failed, or the last reconnect's reason
  static void fields(auto& m, auto& c) {
    c(m.durable, "durable");
    c(m.applied, "applied");
    c(m.finished, "finished");
    c(m.hop, "hop");
    c(m.hop_durable, "hop_durable");
    c(m.hop_reconnects, "hop_reconnects");
    c(m.message, "message", Str{.max = kMaxText, .truncate = true});
  }
};

// Every message type, for code that handles them all (the fuzzer, tests).
using AllMessages = std::tuple<Hello, Challenge, Auth, AuthOk, ErrorMsg, TargetQuery, TargetInfo, Open, Opened, Zero,
                               Skip, Sync, Ack, Finish, Finished, HashRequest, Hashes, HashesEnd, Verify, Digests,
                               VerifyEnd, Repair, GetFile, PutFile, FileEnd, FileDone, ExecMsg, ExitMsg, Bye,
                               RelayAccept, RelayConnect, RelayStatus>;

}  // namespace mkproto
