#pragma once
// Message payloads, one struct per frame type (docs/protocol.md, "Frame
// types"). encode() gives the Frame; decode() checks the type and every field
// and throws ProtocolError(kMalformed) naming the field.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/frame.h"

namespace mkproto {

inline constexpr uint16_t kProtocolVersion = 1;
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

using Nonce = std::array<uint8_t, kNonceSize>;
using Mac = std::array<uint8_t, kMacSize>;
using SessionId = std::array<uint8_t, kSessionIdSize>;

enum class HolesMode : uint8_t { kZero = 0, kSkip = 1 };
enum class SkipReason : uint8_t { kKeep = 0, kDontCare = 1 };
enum class TargetKind : uint8_t { kBlockDevice = 1, kRegularFile = 2 };

struct Hello {
  uint16_t min_version = kProtocolVersion, max_version = kProtocolVersion;
  Nonce nonce{};
  std::string client;
};
struct Challenge {
  uint16_t version = kProtocolVersion;
  Nonce nonce{};
  std::string agent;
};
struct Auth {
  Mac mac{};
};
struct AuthOk {
  Mac mac{};
};
struct ErrorMsg {
  ErrorCode code = ErrorCode::kNone;
  uint64_t watermark = 0;
  std::string message;
};
struct TargetQuery {
  std::string path;  // empty: the agent's --target
};
struct TargetInfo {
  std::string path;
  TargetKind kind = TargetKind::kBlockDevice;
  uint64_t size = 0;
  uint32_t sector_size = 512;
  bool mounted = false;
  std::string mount_point;
};
// OPEN's image_size when the host learns the size only at the end of the
// image (a compressed stream that does not record it): placements are then
// bounded by the target's size, and FINISH tells the size.
inline constexpr uint64_t kImageSizeUnknown = UINT64_MAX;

struct Open {
  SessionId session{};
  std::string path;
  uint64_t image_size = 0;  // or kImageSizeUnknown
  HolesMode holes = HolesMode::kZero;
};
struct Opened {
  uint64_t watermark = 0;
  bool resumed = false;
  TargetInfo target;
};
struct ZeroRange {  // ZERO and SKIP: frame offset + this
  uint64_t length = 0;
  SkipReason reason = SkipReason::kKeep;  // SKIP only
};
struct Ack {
  uint64_t durable = 0;
};
struct Finish {
  uint64_t image_size = 0;
};
struct HashRequest {  // frame offset = start
  uint64_t length = 0;
  uint32_t block = 0;
};
struct Hashes {  // frame offset = offset of the first block
  std::vector<uint64_t> hashes;
};
// What VERIFY reads back. kAll: every byte that is not dont-care. kWritten:
// also leaves out SKIP keep ranges — delta blocks this session compared by
// hash against the target instead of writing them.
enum class VerifyScope : uint8_t { kAll = 0, kWritten = 1 };
struct Verify {
  uint32_t block = 0;
  VerifyScope scope = VerifyScope::kAll;  // absent on the wire (4-byte payload) = kAll
};
struct Digests {  // frame offset = offset of the first block
  std::vector<Digest128> digests;
};
struct VerifyEnd {
  Digest128 overall{};  // XXH3-128 over the concatenated block digests
  uint64_t bytes_read = 0;
  bool direct_io = false;  // read back with O_DIRECT (else fadvise DONTNEED + re-read)
};
struct PathMsg {  // GET_FILE
  std::string path;
};
struct PutFile {
  std::string path;
  uint64_t size = 0;
  uint32_t mode = 0644;
};
struct FileEnd {
  uint64_t size = 0;
  Digest128 digest{};
};
struct ExecMsg {
  std::vector<std::string> argv;
  uint32_t timeout_s = 0;  // 0: none
};
struct ExitMsg {
  int32_t status = 0;      // exit code, or the signal number when signaled
  bool signaled = false;
  bool timed_out = false;
};

Frame encode(const Hello&);
Frame encode(const Challenge&);
Frame encode(const Auth&);
Frame encode(const AuthOk&);
Frame encode(const ErrorMsg&);
Frame encode(const TargetQuery&);
Frame encode(const TargetInfo&);
Frame encode(const Open&);
Frame encode(const Opened&);
Frame encode_zero(uint64_t offset, uint64_t length);
Frame encode_skip(uint64_t offset, uint64_t length, SkipReason reason);
Frame encode(const Ack&);
Frame encode(const Finish&);
Frame encode_finished(uint64_t watermark);
Frame encode_hash_request(uint64_t offset, const HashRequest&);
Frame encode_hashes(uint64_t offset, const Hashes&);
Frame encode(const Verify&);
Frame encode_digests(uint64_t offset, const Digests&);
Frame encode(const VerifyEnd&);
Frame encode_get_file(const PathMsg&);
Frame encode(const PutFile&);
Frame encode(const FileEnd&);
Frame encode(const ExecMsg&);
Frame encode(const ExitMsg&);
Frame encode_empty(FrameType t, uint64_t offset = 0);

// Throws ProtocolError(kUnexpected) when f.type is not `want`.
void expect_type(const Frame& f, FrameType want);
Hello decode_hello(const Frame&);
Challenge decode_challenge(const Frame&);
Auth decode_auth(const Frame&);
AuthOk decode_auth_ok(const Frame&);
ErrorMsg decode_error(const Frame&);
TargetQuery decode_target_query(const Frame&);
TargetInfo decode_target_info(const Frame&);
Open decode_open(const Frame&);
Opened decode_opened(const Frame&);
ZeroRange decode_zero(const Frame&);
ZeroRange decode_skip(const Frame&);
Ack decode_ack(const Frame&);
Finish decode_finish(const Frame&);
uint64_t decode_finished(const Frame&);
HashRequest decode_hash_request(const Frame&);
Hashes decode_hashes(const Frame&);
Verify decode_verify(const Frame&);
Digests decode_digests(const Frame&);
VerifyEnd decode_verify_end(const Frame&);
PathMsg decode_get_file(const Frame&);
PutFile decode_put_file(const Frame&);
FileEnd decode_file_end(const Frame&);
ExecMsg decode_exec(const Frame&);
ExitMsg decode_exit(const Frame&);

// An ERROR frame from the peer, as the exception the receiving side throws.
[[noreturn]] void throw_remote_error(const Frame& f);

}  // namespace mkproto
