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

// What HASH_REQUEST asks the agent to hash a block with (docs/index.md).
// kKeyed: delta_hash of the block's bytes. kStrong: delta_hash of the
// block's unkeyed BLAKE2b-128 — what an image index (mkmaster/source/
// image_index.h) stores per block — so the host can compare the disk with
// an index without the image's bytes, while the value on the wire stays
// keyed per session. A disk block passes for an index block only if its
// BLAKE2b-128 equals the index's (a second preimage: 2^128 work), or by a
// SipHash collision under a key unknown when the disk was written.
enum class HashKind : uint8_t { kKeyed = 0, kStrong = 1 };
using StrongHash = std::array<uint8_t, 16>;

StrongHash strong_hash(const void* data, size_t size);
uint64_t delta_hash(const DeltaKey& key, const StrongHash& strong);
uint64_t delta_hash(const DeltaKey& key, HashKind kind, const void* data, size_t size);

}  // namespace mkproto
