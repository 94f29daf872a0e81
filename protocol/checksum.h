#pragma once
// Checksums of the wire protocol (docs/protocol.md, "Checksums"):
//  * frame checksum of the handshake frames: XXH3-64 over the frame header
//    (checksum field excluded) and the payload — chosen by measurement
//    (bench: checksum-bench); later frames carry a MAC (frame_mac.h);
//  * digests: XXH3-128 of the image as it should land and of what the agent
//    reads back. (Delta block hashes are keyed: delta_hash.h.)
// All xxhash use goes through this file so the library is compiled once with
// the target's SIMD flags (NEON on the Cortex-A9), see checksum.cpp.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace mkproto {

using Digest128 = std::array<uint8_t, 16>;

uint64_t xxh3_64(const void* data, size_t size);
Digest128 xxh3_128(const void* data, size_t size);

// Streaming XXH3-64 (frame checksums over header + payload without copying).
class Hash64 {
 public:
  Hash64();
  ~Hash64();
  Hash64(const Hash64&) = delete;
  Hash64& operator=(const Hash64&) = delete;
  void update(const void* data, size_t size);
  uint64_t digest() const;
  void reset();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Streaming XXH3-128 (end-to-end digests).
class Hash128 {
 public:
  Hash128();
  ~Hash128();
  Hash128(const Hash128&) = delete;
  Hash128& operator=(const Hash128&) = delete;
  void update(const void* data, size_t size);
  Digest128 digest() const;
  void reset();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// Lower-case hex, for messages and JSON.
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace mkproto
