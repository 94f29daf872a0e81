#include "protocol/frame_mac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <limits>
#include <memory>
#include <stdexcept>

#include "protocol/wire.h"

namespace mkproto {

namespace {

// libcrypto rather than libsodium for this one construction: its Poly1305
// has NEON code (poly1305-armv4), 1.8 ARM instructions per byte on the
// node's Cortex-A9 against 6.6 for libsodium's portable C, and the frame tag
// is on every byte the node receives (docs/protocol.md, "Cost"). The tag is
// RFC 8439's, the same bytes either library computes (frame_mac_test.cpp).
constexpr size_t kNonceSize = 12;

// Direction in the first byte: even a key shared by both directions could
// not make a frame verify in the other one.
std::array<uint8_t, kNonceSize> nonce(Direction d, uint64_t counter) {
  std::array<uint8_t, kNonceSize> n{};
  n[0] = static_cast<uint8_t>(d);
  put_le(n.data() + 4, counter, 8);
  return n;
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

const EVP_CIPHER* aead() {
  // Fetched once: an implicit fetch per frame takes the provider store's lock.
  static EVP_CIPHER* const cipher = [] {
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);  // no openssl.cnf on the node, none wanted here
    EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    if (c == nullptr) throw std::runtime_error("libcrypto has no ChaCha20-Poly1305");
    return c;
  }();
  return cipher;
}

// One context per thread, set up once and re-keyed per frame.
EVP_CIPHER_CTX* context() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx = [] {
    std::unique_ptr<EVP_CIPHER_CTX, CtxFree> c(EVP_CIPHER_CTX_new());
    if (!c || EVP_EncryptInit_ex2(c.get(), aead(), nullptr, nullptr, nullptr) != 1)
      throw std::runtime_error("ChaCha20-Poly1305: cannot set up a cipher context");
    return c;
  }();
  return ctx.get();
}

}  // namespace

static_assert(sizeof(FrameKeyBytes) == 32);

Tag frame_tag(const FrameMacKey& k, uint64_t counter, std::span<const uint8_t> frame) {
  const auto n = nonce(k.dir, counter);
  EVP_CIPHER_CTX* c = context();
  Tag tag{};
  int len = 0;
  // A frame is far below INT_MAX (kMaxPayload); the frame is additional data (no output buffer).
  const bool ok = frame.size() <= static_cast<size_t>(std::numeric_limits<int>::max()) &&
                  EVP_EncryptInit_ex2(c, nullptr, k.key.data(), n.data(), nullptr) == 1 &&
                  EVP_EncryptUpdate(c, nullptr, &len, frame.data(), static_cast<int>(frame.size())) == 1 &&
                  EVP_EncryptFinal_ex(c, nullptr, &len) == 1 &&
                  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), tag.data()) == 1;
  if (!ok) throw std::runtime_error("ChaCha20-Poly1305: computing a frame tag failed");
  return tag;
}

bool frame_tag_ok(const FrameMacKey& k, uint64_t counter, std::span<const uint8_t> frame, const uint8_t* tag) {
  const Tag want = frame_tag(k, counter, frame);
  return CRYPTO_memcmp(want.data(), tag, kTagSize) == 0;
}

}  // namespace mkproto
