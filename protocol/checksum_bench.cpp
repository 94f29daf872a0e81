// checksum-bench: throughput of the frame-checksum candidates on this CPU
// (native, or an armhf build under `QEMU_CPU=cortex-a9 qemu-arm-static`).
// The figures behind the choice in docs/protocol.md, "Checksums".
#define XXH_INLINE_ALL
#include <sodium.h>
#include <xxhash.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

int main(int argc, char** argv) {
  const size_t frame = 1 << 20;  // one DATA frame
  const size_t total_mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 256;
  std::vector<unsigned char> buf(frame);
  for (size_t i = 0; i < frame; ++i) buf[i] = static_cast<unsigned char>(i * 2654435761u >> 13);
  if (sodium_init() < 0) return 1;
  struct Candidate {
    const char* name;
    std::function<uint64_t()> fn;
  };
  std::vector<Candidate> cands = {
      {"xxh3-64", [&] { return XXH3_64bits(buf.data(), frame); }},
      {"xxh3-128", [&] { return XXH3_128bits(buf.data(), frame).low64; }},
      {"xxh32", [&] { return uint64_t{XXH32(buf.data(), frame, 0)}; }},
      {"xxh64", [&] { return uint64_t{XXH64(buf.data(), frame, 0)}; }},
      {"crc32-zlib", [&] { return uint64_t{crc32(0, buf.data(), static_cast<uInt>(frame))}; }},
      {"sha256-sodium", [&] {
         unsigned char out[32];
         crypto_hash_sha256(out, buf.data(), frame);
         return uint64_t{out[0]};
       }},
  };
  std::printf("%-14s %10s\n", "checksum", "MB/s");
  for (auto& c : cands) {
    size_t n = c.name[0] == 's' ? total_mb / 8 + 1 : total_mb;  // SHA-256 is slow
    uint64_t sink = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < n; ++i) sink ^= c.fn();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%-14s %10.0f   (sink %llx)\n", c.name, n * frame / 1e6 / s, static_cast<unsigned long long>(sink & 0xf));
  }
  return 0;
}
