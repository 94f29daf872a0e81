#include "protocol/frame_mac.h"

#include <sodium.h>

#include "protocol/wire.h"

namespace mkproto {

static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kTagSize);
static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == sizeof(FrameKeyBytes));

namespace {
// Direction in the first byte: even a key shared by both directions could
// not make a frame verify in the other one.
std::array<uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> nonce(Direction d, uint64_t counter) {
  std::array<uint8_t, crypto_aead_chacha20poly1305_ietf_NPUBBYTES> n{};
  n[0] = static_cast<uint8_t>(d);
  put_le(n.data() + 4, counter, 8);
  return n;
}
}  // namespace

Tag frame_tag(const FrameMacKey& k, uint64_t counter, std::span<const uint8_t> frame) {
  auto n = nonce(k.dir, counter);
  Tag tag;
  unsigned long long tag_len = 0;
  unsigned char none = 0;  // the empty message (libsodium wants valid pointers)
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(&none, tag.data(), &tag_len, &none, 0, frame.data(), frame.size(),
                                                     nullptr, n.data(), k.key.data());
  return tag;
}

bool frame_tag_ok(const FrameMacKey& k, uint64_t counter, std::span<const uint8_t> frame, const uint8_t* tag) {
  auto n = nonce(k.dir, counter);
  unsigned char none = 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(&none, nullptr, &none, 0, tag, frame.data(), frame.size(),
                                                            n.data(), k.key.data()) == 0;
}

}  // namespace mkproto
