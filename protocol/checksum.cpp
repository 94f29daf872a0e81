// XXH_INLINE_ALL compiles xxhash into this file with our flags: Debian's
// armhf libxxhash is built without NEON, which makes XXH3 ~3x slower on a
// Cortex-A9 (measured, docs/protocol.md).
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "protocol/checksum.h"

namespace mkproto {

uint64_t xxh3_64(const void* data, size_t size) { return XXH3_64bits(data, size); }

static Digest128 canonical(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  Digest128 out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = c.digest[i];
  return out;
}

Digest128 xxh3_128(const void* data, size_t size) { return canonical(XXH3_128bits(data, size)); }

struct Hash64::State {
  XXH3_state_t s;
};
Hash64::Hash64() : state_(std::make_unique<State>()) { reset(); }
Hash64::~Hash64() = default;
void Hash64::reset() { XXH3_64bits_reset(&state_->s); }
void Hash64::update(const void* data, size_t size) { XXH3_64bits_update(&state_->s, data, size); }
uint64_t Hash64::digest() const { return XXH3_64bits_digest(&state_->s); }

struct Hash128::State {
  XXH3_state_t s;
};
Hash128::Hash128() : state_(std::make_unique<State>()) { reset(); }
Hash128::~Hash128() = default;
void Hash128::reset() { XXH3_128bits_reset(&state_->s); }
void Hash128::update(const void* data, size_t size) { XXH3_128bits_update(&state_->s, data, size); }
Digest128 Hash128::digest() const { return canonical(XXH3_128bits_digest(&state_->s)); }

std::string to_hex(std::span<const uint8_t> bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(d[b >> 4]);
    s.push_back(d[b & 15]);
  }
  return s;
}

}  // namespace mkproto
