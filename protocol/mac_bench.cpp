// mac-bench: cost of the protocol v2 frame MAC and of the keyed delta block
// hash candidates against the unkeyed XXH3-64 they replace, on this CPU (or
// an armhf build under `QEMU_CPU=cortex-a9 qemu-arm-static`). The figures
// behind docs/protocol.md, "Frame authentication".
//
//   mac-bench [MiB]                 MB/s of every candidate (1 MiB buffers)
//   mac-bench --one NAME KIB ROUNDS  only NAME, ROUNDS times over KIB KiB:
//                                   for instruction counts under qemu, where
//                                   two runs with different ROUNDS cancel
//                                   out start-up (docs/protocol.md says how)
#define XXH_INLINE_ALL
#include <sodium.h>
#include <span>
#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "protocol/frame_mac.h"

namespace {

struct Candidate {
  const char* name;
  std::function<uint64_t(const unsigned char*, size_t)> fn;
};

std::vector<Candidate> candidates() {
  static unsigned char key[32] = {1, 2, 3};
  return {
      {"xxh3-64", [](const unsigned char* p, size_t n) { return XXH3_64bits(p, n); }},
      // The v2 frame MAC as the protocol computes it (protocol/frame_mac.cpp):
      // the Poly1305 tag of the IETF ChaCha20-Poly1305 AEAD over an empty
      // message, the frame as additional data, by libcrypto.
      {"poly1305-libcrypto",
       [](const unsigned char* p, size_t n) {
         mkproto::FrameMacKey k;
         k.key[0] = 1;
         const mkproto::Tag t = mkproto::frame_tag(k, 1, std::span<const uint8_t>(p, n));
         uint64_t v;
         std::memcpy(&v, t.data(), 8);
         return v;
       }},
      // The same tag by libsodium (portable C Poly1305, no NEON).
      {"poly1305-aead",
       [](const unsigned char* p, size_t n) {
         unsigned char tag[16], nonce[12] = {1}, dummy = 0;
         unsigned long long tl = 0;
         crypto_aead_chacha20poly1305_ietf_encrypt_detached(&dummy, tag, &tl, &dummy, 0, p, n, nullptr, nonce, key);
         uint64_t v;
         std::memcpy(&v, tag, 8);
         return v;
       }},
      // Delta block hash candidates: keyed PRFs from libsodium.
      {"siphash24",
       [](const unsigned char* p, size_t n) {
         unsigned char out[8];
         crypto_shorthash_siphash24(out, p, n, key);
         uint64_t v;
         std::memcpy(&v, out, 8);
         return v;
       }},
      {"blake2b-keyed",
       [](const unsigned char* p, size_t n) {
         unsigned char out[16];
         crypto_generichash(out, sizeof out, p, n, key, 32);
         uint64_t v;
         std::memcpy(&v, out, 8);
         return v;
       }},
  };
}

}  // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0) return 1;
  auto cands = candidates();
  if (argc == 5 && std::strcmp(argv[1], "--one") == 0) {
    size_t n = std::strtoul(argv[3], nullptr, 10) << 10, rounds = std::strtoul(argv[4], nullptr, 10);
    std::vector<unsigned char> buf(n, 0x5a);
    for (auto& c : cands) {
      if (std::strcmp(c.name, argv[2]) != 0) continue;
      uint64_t sink = 0;
      for (size_t i = 0; i < rounds; ++i) sink ^= c.fn(buf.data(), n);
      std::printf("%s %llx\n", c.name, static_cast<unsigned long long>(sink & 0xf));
      return 0;
    }
    std::fprintf(stderr, "mac-bench: unknown candidate '%s'\n", argv[2]);
    return 2;
  }
  const size_t frame = 1 << 20;
  const size_t total_mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
  std::vector<unsigned char> buf(frame);
  for (size_t i = 0; i < frame; ++i) buf[i] = static_cast<unsigned char>(i * 2654435761u >> 13);
  std::printf("%-18s %10s %12s\n", "candidate", "MB/s", "4K-blk MB/s");
  for (auto& c : cands) {
    double mbs[2];
    uint64_t sink = 0;
    for (int pass = 0; pass < 2; ++pass) {
      size_t piece = pass == 0 ? frame : 4096;  // a DATA frame; a delta block
      auto t0 = std::chrono::steady_clock::now();
      for (size_t i = 0; i < total_mb; ++i)
        for (size_t off = 0; off < frame; off += piece) sink ^= c.fn(buf.data() + off, piece);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      mbs[pass] = total_mb * frame / 1e6 / s;
    }
    std::printf("%-18s %10.0f %12.0f   (sink %llx)\n", c.name, mbs[0], mbs[1],
                static_cast<unsigned long long>(sink & 0xf));
  }
  return 0;
}
