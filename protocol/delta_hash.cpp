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

}  // namespace mkproto
