#include "protocol/delta_hash.h"

#include <sodium.h>

#include "protocol/wire.h"

namespace mkproto {

static_assert(crypto_shorthash_siphash24_KEYBYTES == sizeof(DeltaKey) && crypto_shorthash_siphash24_BYTES == 8);

uint64_t delta_hash(const DeltaKey& key, const void* data, size_t size) {
  unsigned char out[8];
  crypto_shorthash_siphash24(out, static_cast<const unsigned char*>(data), size, key.data());
  return get_le(out, 8);
}

StrongHash strong_hash(const void* data, size_t size) {
  StrongHash h{};
  crypto_generichash(h.data(), h.size(), static_cast<const unsigned char*>(data), size, nullptr, 0);
  return h;
}

uint64_t delta_hash(const DeltaKey& key, const StrongHash& strong) { return delta_hash(key, strong.data(), strong.size()); }

uint64_t delta_hash(const DeltaKey& key, HashKind kind, const void* data, size_t size) {
  if (kind == HashKind::kStrong) return delta_hash(key, strong_hash(data, size));
  return delta_hash(key, data, size);
}

}  // namespace mkproto
