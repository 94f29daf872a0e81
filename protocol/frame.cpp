#include "protocol/frame.h"

#include <fmt/core.h>

#include <cstring>

#include "protocol/checksum.h"
#include "protocol/wire.h"

namespace mkproto {

bool known_type(uint8_t t) {
  switch (static_cast<FrameType>(t)) {
    case FrameType::kHello: case FrameType::kChallenge: case FrameType::kAuth: case FrameType::kAuthOk:
    case FrameType::kError: case FrameType::kTargetQuery: case FrameType::kTargetInfo: case FrameType::kOpen:
    case FrameType::kOpened: case FrameType::kData: case FrameType::kZero: case FrameType::kSkip:
    case FrameType::kSync: case FrameType::kAck: case FrameType::kFinish: case FrameType::kFinished:
    case FrameType::kHashRequest: case FrameType::kHashes: case FrameType::kHashesEnd: case FrameType::kVerify:
    case FrameType::kDigests: case FrameType::kVerifyEnd: case FrameType::kRepair: case FrameType::kGetFile: case FrameType::kPutFile:
    case FrameType::kFileData: case FrameType::kFileEnd: case FrameType::kFileDone: case FrameType::kExec:
    case FrameType::kOutput: case FrameType::kExit: case FrameType::kBye:
    case FrameType::kRelayAccept: case FrameType::kRelayConnect: case FrameType::kRelayStatus:
      return true;
  }
  return false;
}

const char* type_name(FrameType t) {
  switch (t) {
    case FrameType::kHello: return "HELLO";
    case FrameType::kChallenge: return "CHALLENGE";
    case FrameType::kAuth: return "AUTH";
    case FrameType::kAuthOk: return "AUTH_OK";
    case FrameType::kError: return "ERROR";
    case FrameType::kTargetQuery: return "TARGET_QUERY";
    case FrameType::kTargetInfo: return "TARGET_INFO";
    case FrameType::kOpen: return "OPEN";
    case FrameType::kOpened: return "OPENED";
    case FrameType::kData: return "DATA";
    case FrameType::kZero: return "ZERO";
    case FrameType::kSkip: return "SKIP";
    case FrameType::kSync: return "SYNC";
    case FrameType::kAck: return "ACK";
    case FrameType::kFinish: return "FINISH";
    case FrameType::kFinished: return "FINISHED";
    case FrameType::kHashRequest: return "HASH_REQUEST";
    case FrameType::kHashes: return "HASHES";
    case FrameType::kHashesEnd: return "HASHES_END";
    case FrameType::kVerify: return "VERIFY";
    case FrameType::kDigests: return "DIGESTS";
    case FrameType::kVerifyEnd: return "VERIFY_END";
    case FrameType::kRepair: return "REPAIR";
    case FrameType::kGetFile: return "GET_FILE";
    case FrameType::kPutFile: return "PUT_FILE";
    case FrameType::kFileData: return "FILE_DATA";
    case FrameType::kFileEnd: return "FILE_END";
    case FrameType::kFileDone: return "FILE_DONE";
    case FrameType::kExec: return "EXEC";
    case FrameType::kOutput: return "OUTPUT";
    case FrameType::kExit: return "EXIT";
    case FrameType::kBye: return "BYE";
    case FrameType::kRelayAccept: return "RELAY_ACCEPT";
    case FrameType::kRelayConnect: return "RELAY_CONNECT";
    case FrameType::kRelayStatus: return "RELAY_STATUS";
  }
  return "?";
}

static uint64_t frame_check(const uint8_t* header, std::span<const uint8_t> payload) {
  Hash64 h;
  h.update(header, 24);
  h.update(payload.data(), payload.size());
  return h.digest();
}

static void put_fields(uint8_t* h, FrameType type, uint16_t flags, uint32_t seq, uint64_t offset, size_t length) {
  put_le(&h[0], kMagic, 4);
  h[4] = kFrameVersion;
  h[5] = static_cast<uint8_t>(type);
  put_le(&h[6], flags, 2);
  put_le(&h[8], length, 4);
  put_le(&h[12], seq, 4);
  put_le(&h[16], offset, 8);
  put_le(&h[24], 0, 8);
}

std::array<uint8_t, kHeaderSize> encode_header(FrameType type, uint16_t flags, uint32_t seq, uint64_t offset,
                                               std::span<const uint8_t> payload) {
  std::array<uint8_t, kHeaderSize> h{};
  put_fields(h.data(), type, flags, seq, offset, payload.size());
  put_le(&h[24], frame_check(h.data(), payload), 8);
  return h;
}

std::vector<uint8_t> encode_sealed(const FrameMacKey& k, uint64_t counter, FrameType type, uint16_t flags,
                                   uint64_t offset, std::span<const uint8_t> payload) {
  // One contiguous buffer: libsodium's AEAD takes the additional data whole.
  std::vector<uint8_t> out(kHeaderSize + payload.size() + kTagSize);
  put_fields(out.data(), type, flags, static_cast<uint32_t>(counter), offset, payload.size());
  if (!payload.empty()) std::memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
  Tag tag = frame_tag(k, counter, std::span(out).first(kHeaderSize + payload.size()));
  std::memcpy(out.data() + kHeaderSize + payload.size(), tag.data(), kTagSize);
  return out;
}

std::vector<uint8_t> FrameEncoder::encode(FrameType type, uint16_t flags, uint64_t offset,
                                          std::span<const uint8_t> payload) {
  uint64_t n = count_++;
  if (mac_) return encode_sealed(*mac_, n, type, flags, offset, payload);
  auto h = encode_header(type, flags, static_cast<uint32_t>(n), offset, payload);
  std::vector<uint8_t> out(kHeaderSize + payload.size());
  std::memcpy(out.data(), h.data(), kHeaderSize);
  if (!payload.empty()) std::memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
  return out;
}

std::vector<uint8_t> encode_frame(const Frame& f) {
  auto h = encode_header(f.type, f.flags, f.seq, f.offset, f.payload);
  // resize + memcpy: GCC 12 warns falsely (array-bounds) on insert() here.
  std::vector<uint8_t> out(kHeaderSize + f.payload.size());
  std::memcpy(out.data(), h.data(), kHeaderSize);
  if (!f.payload.empty()) std::memcpy(out.data() + kHeaderSize, f.payload.data(), f.payload.size());
  return out;
}

void FrameDecoder::feed(std::span<const uint8_t> bytes) {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 20)) {
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  buf_.insert(buf_.end(), bytes.begin(), bytes.end());
}

void FrameDecoder::check_header() {
  const uint8_t* h = buf_.data() + pos_;
  uint32_t magic = static_cast<uint32_t>(get_le(h, 4));
  if (magic != kMagic)
    throw ProtocolError(ErrorCode::kBadMagic, fmt::format("frame {}: bad magic 0x{:08x} (expected 0x{:08x} \"MKPF\")",
                                                          expected_seq(), magic, kMagic));
  if (h[4] != kFrameVersion)
    throw ProtocolError(ErrorCode::kBadVersion,
                        fmt::format("frame {}: frame version {}{} (this side speaks only {}, with every frame after "
                                    "the handshake authenticated)",
                                    expected_seq(), h[4], h[4] == 1 ? ", protocol v1: refused" : "", kFrameVersion));
  if (!known_type(h[5]))
    throw ProtocolError(ErrorCode::kBadType, fmt::format("frame {}: unknown frame type {}", expected_seq(), h[5]));
  uint16_t flags = static_cast<uint16_t>(get_le(h + 6, 2));
  if (flags & ~kKnownFlags)
    throw ProtocolError(ErrorCode::kMalformed, fmt::format("frame {}: unknown flag bits 0x{:04x}", expected_seq(), flags));
  uint32_t len = static_cast<uint32_t>(get_le(h + 8, 4));
  if (len > max_payload_)
    throw ProtocolError(ErrorCode::kTooLarge, fmt::format("frame {} ({}): payload length {} exceeds the limit {}",
                                                          expected_seq(), type_name(static_cast<FrameType>(h[5])), len,
                                                          max_payload_));
  uint32_t seq = static_cast<uint32_t>(get_le(h + 12, 4));
  if (seq != expected_seq())
    throw ProtocolError(ErrorCode::kBadSequence, fmt::format("frame sequence {} where {} was expected", seq, expected_seq()));
  header_ok_ = true;
}

size_t FrameDecoder::wanted() const {
  size_t have = buf_.size() - pos_;
  if (have < kHeaderSize) return kHeaderSize - have;
  size_t len = static_cast<size_t>(get_le(buf_.data() + pos_ + 8, 4));
  if (len > max_payload_) return 1;  // next() will throw
  size_t total = kHeaderSize + len + trailer();
  return have < total ? total - have : 0;
}

std::optional<Frame> FrameDecoder::next() {
  size_t have = buf_.size() - pos_;
  if (have < kHeaderSize) return std::nullopt;
  if (!header_ok_) check_header();
  const uint8_t* h = buf_.data() + pos_;
  uint32_t len = static_cast<uint32_t>(get_le(h + 8, 4));
  if (have < kHeaderSize + len + trailer()) return std::nullopt;
  std::span<const uint8_t> payload(h + kHeaderSize, len);
  uint64_t want = get_le(h + 24, 8);
  Frame f;
  f.type = static_cast<FrameType>(h[5]);
  if (mac_) {
    if (!frame_tag_ok(*mac_, count_, {h, kHeaderSize + len}, h + kHeaderSize + len))
      throw ProtocolError(ErrorCode::kBadMac,
                          fmt::format("frame {} ({}, offset {}, {} bytes): authentication tag does not match: the "
                                      "frame was forged, replayed, reflected or corrupted",
                                      expected_seq(), type_name(f.type), get_le(h + 16, 8), len));
    if (want != 0)
      throw ProtocolError(ErrorCode::kMalformed, fmt::format("frame {} ({}): field 'check' is {:016x}, must be 0 on an "
                                                             "authenticated frame", expected_seq(), type_name(f.type), want));
  } else if (uint64_t got = frame_check(h, payload); want != got) {
    throw ProtocolError(ErrorCode::kBadChecksum, fmt::format("frame {} ({}): checksum {:016x} does not match contents {:016x}",
                                                             expected_seq(), type_name(f.type), want, got));
  }
  f.flags = static_cast<uint16_t>(get_le(h + 6, 2));
  f.seq = expected_seq();
  f.offset = get_le(h + 16, 8);
  f.payload.assign(payload.begin(), payload.end());
  pos_ += kHeaderSize + len + trailer();
  ++count_;
  header_ok_ = false;
  return f;
}

}  // namespace mkproto
