#pragma once
// Per-frame authentication of protocol v2 (docs/protocol.md, "Frame
// authentication"). Every frame after the handshake carries a 16-byte
// Poly1305 tag: libsodium's IETF ChaCha20-Poly1305 over an EMPTY message
// with the frame (header ‖ payload) as additional data, under the key of
// the sending direction and the nonce direction ‖ 64-bit frame counter. A
// frame therefore only verifies at its own position in its own direction.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mkproto {

inline constexpr size_t kTagSize = 16;
using Tag = std::array<uint8_t, kTagSize>;
using FrameKeyBytes = std::array<uint8_t, 32>;

enum class Direction : uint8_t { kHostToAgent = 1, kAgentToHost = 2 };

struct FrameMacKey {
  FrameKeyBytes key{};
  Direction dir = Direction::kHostToAgent;
};

// Both directions' keys of one connection (protocol/session_keys.h).
struct SessionKeys {
  FrameMacKey host_to_agent, agent_to_host;
};

// Tag of the frame bytes (header ‖ payload) numbered `counter` (0 = the first
// frame of that direction on the connection).
Tag frame_tag(const FrameMacKey& k, uint64_t counter, std::span<const uint8_t> frame);
// Constant-time check (libsodium's AEAD decryption of the empty message).
bool frame_tag_ok(const FrameMacKey& k, uint64_t counter, std::span<const uint8_t> frame, const uint8_t* tag);

}  // namespace mkproto
