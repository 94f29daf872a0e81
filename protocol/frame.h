#pragma once
// Frame layout, encoder and incremental decoder (docs/protocol.md, "Frames").
// 32-byte little-endian header, then `length` payload bytes:
//   0 magic u32 "MKPF"  4 version u8 (2)  5 type u8  6 flags u16  8 length u32
//  12 seq u32  16 offset u64  24 check u64
// Handshake frames: check = XXH3-64(header[0..24) + payload). Every later
// frame: check = 0 and a 16-byte Poly1305 tag follows the payload
// (protocol/frame_mac.h), keyed per connection and direction.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocol/errors.h"
#include "protocol/frame_mac.h"

namespace mkproto {

inline constexpr uint32_t kMagic = 0x46504B4D;  // bytes 'M' 'K' 'P' 'F'
inline constexpr uint8_t kFrameVersion = 2;
inline constexpr size_t kHeaderSize = 32;
// Largest payload of any frame; DATA carries at most kMaxData image bytes
// (compressed payloads are bounded by ZSTD_compressBound(kMaxData) < this).
inline constexpr uint32_t kMaxPayload = (4u << 20) + 4096;
inline constexpr uint32_t kMaxData = 4u << 20;
// Before authentication only handshake frames, and only this large.
inline constexpr uint32_t kMaxPayloadUnauthenticated = 1024;

enum class FrameType : uint8_t {
  kHello = 1,
  kChallenge = 2,
  kAuth = 3,
  kAuthOk = 4,
  kError = 5,
  kTargetQuery = 10,
  kTargetInfo = 11,
  kOpen = 12,
  kOpened = 13,
  kData = 14,
  kZero = 15,
  kSkip = 16,
  kSync = 17,
  kAck = 18,
  kFinish = 19,
  kFinished = 20,
  kHashRequest = 21,
  kHashes = 22,
  kHashesEnd = 23,
  kVerify = 24,
  kDigests = 25,
  kVerifyEnd = 26,
  kRepair = 27,
  kGetFile = 30,
  kPutFile = 31,
  kFileData = 32,
  kFileEnd = 33,
  kFileDone = 34,
  kExec = 35,
  kOutput = 36,
  kExit = 37,
  kBye = 40,
  kRelayAccept = 41,
  kRelayConnect = 42,
  kRelayStatus = 43,
};
bool known_type(uint8_t t);
const char* type_name(FrameType t);

// Flags (u16). Unknown bits are rejected (kMalformed).
inline constexpr uint16_t kFlagZstd = 1;      // DATA/FILE_DATA payload is one zstd frame
inline constexpr uint16_t kFlagStderr = 2;    // OUTPUT comes from stderr
inline constexpr uint16_t kKnownFlags = kFlagZstd | kFlagStderr;

struct Frame {
  FrameType type = FrameType::kBye;
  uint16_t flags = 0;
  uint32_t seq = 0;
  uint64_t offset = 0;
  std::vector<uint8_t> payload;
};

// An unauthenticated (handshake) frame: header + payload, XXH3 check filled in.
std::vector<uint8_t> encode_frame(const Frame& f);
// Just its 32-byte header, for a payload that is sent separately.
std::array<uint8_t, kHeaderSize> encode_header(FrameType type, uint16_t flags, uint32_t seq, uint64_t offset,
                                               std::span<const uint8_t> payload);
// An authenticated frame numbered `counter`: header (check 0) + payload + tag.
std::vector<uint8_t> encode_sealed(const FrameMacKey& k, uint64_t counter, FrameType type, uint16_t flags,
                                   uint64_t offset, std::span<const uint8_t> payload);

// Numbers one direction's frames and encodes them: XXH3-checked until
// set_mac_key(), tagged from then on.
class FrameEncoder {
 public:
  void set_mac_key(const FrameMacKey& k) { mac_ = k; }
  bool authenticated() const { return mac_.has_value(); }
  std::vector<uint8_t> encode(FrameType type, uint16_t flags, uint64_t offset, std::span<const uint8_t> payload);
  uint32_t next_seq() const { return static_cast<uint32_t>(count_); }

 private:
  std::optional<FrameMacKey> mac_;
  uint64_t count_ = 0;
};

// Incremental decoder: feed() any bytes as they arrive, then take frames with
// next(). Validates magic, version, type, flags, length (against the current
// limit), sequence (must be expected_seq, then +1) and the XXH3 check — or,
// after set_mac_key(), the tag; throws ProtocolError with the specific code.
// After a throw the stream is dead.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_payload = kMaxPayload) : max_payload_(max_payload) {}
  void set_max_payload(uint32_t m) { max_payload_ = m; }
  // Frames after the current one must carry tags of k (the peer's direction).
  void set_mac_key(const FrameMacKey& k) { mac_ = k; }
  bool authenticated() const { return mac_.has_value(); }
  void feed(std::span<const uint8_t> bytes);
  std::optional<Frame> next();
  // Bytes needed to make progress (header or rest of payload): lets a reader
  // receive a payload straight into place in one recv.
  size_t wanted() const;
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  void check_header();
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
  size_t trailer() const { return mac_ ? kTagSize : 0; }
  uint32_t expected_seq() const { return static_cast<uint32_t>(count_); }
  uint32_t max_payload_;
  std::optional<FrameMacKey> mac_;
  uint64_t count_ = 0;  // frames decoded: the tag counter, seq is its low 32 bits
  bool header_ok_ = false;
};

}  // namespace mkproto
