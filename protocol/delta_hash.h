#pragma once
// Delta block hashes (HASHES frames, docs/protocol.md "Delta"): SipHash-2-4
// (libsodium crypto_shorthash) keyed per push session, so bytes a disk was
// given before the session's key existed cannot be made to hash like the
// image's block (XXH3, unkeyed, allows crafted collisions).
#include <array>
#include <cstddef>
#include <cstdint>

namespace mkproto {

using DeltaKey = std::array<uint8_t, 16>;

uint64_t delta_hash(const DeltaKey& key, const void* data, size_t size);

}  // namespace mkproto
