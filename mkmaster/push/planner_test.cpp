#include "mkmaster/push/planner.h"

#include <gtest/gtest.h>

using namespace push;
using mkproto::HolesMode;

namespace {

struct Rec : FrameSink {
  std::string log;
  void data(uint64_t off, std::span<const uint8_t> b) override { log += "D" + std::to_string(off) + "+" + std::to_string(b.size()) + " "; }
  void range(RangeKind k, uint64_t off, uint64_t len) override {
    log += std::string(k == RangeKind::kZero ? "Z" : k == RangeKind::kKeep ? "K" : "C") + std::to_string(off) + "+" +
           std::to_string(len) + " ";
  }
};

const mkproto::DeltaKey kKey{7, 7, 7};
uint64_t h(const std::vector<uint8_t>& v, size_t off, size_t n) { return mkproto::delta_hash(kKey, v.data() + off, n); }

}  // namespace

TEST(Planner, WithoutDeltaPassesExtentsThrough) {
  Rec r;
  std::vector<uint8_t> d(100, 1);
  Planner p(r, HolesMode::kZero, nullptr, 4096, 1000, 0);
  p.data(0, d);
  p.hole(100, 400, /*mapped=*/true);
  p.hole(500, 500, /*mapped=*/false);
  p.finish();
  EXPECT_EQ(r.log, "D0+100 Z100+400 Z500+500 ");
  Rec s;
  Planner q(s, HolesMode::kSkip, nullptr, 4096, 1000, 0);
  q.data(0, d);
  q.hole(100, 900, /*mapped=*/false);
  EXPECT_EQ(s.log, "D0+100 C100+900 ");
}

// bmaptool writes every mapped block: zeros inside a .bmap range (or found
// by zero detection) land as zeros under --holes=skip too; only unmapped
// ranges are don't-care.
TEST(Planner, HolesSkipStillZeroesMappedZeros) {
  Rec r;
  std::vector<uint8_t> d(100, 1);
  Planner p(r, HolesMode::kSkip, nullptr, 4096, 1000, 0);
  p.data(0, d);
  p.hole(100, 300, /*mapped=*/true);
  p.hole(400, 600, /*mapped=*/false);
  p.finish();
  EXPECT_EQ(r.log, "D0+100 Z100+300 C400+600 ");
}

TEST(Planner, DeltaHolesSkipKeepsOrZeroesMappedZerosAndSkipsUnmapped) {
  const uint32_t B = 4096;
  std::vector<uint8_t> zeros(3 * B, 0);
  // Block 0: mapped zeros the target already holds; block 1: mapped zeros
  // over target garbage; block 2: half mapped zeros, half unmapped.
  std::vector<uint64_t> hashes = {h(zeros, 0, B), 999, 12345};
  Rec r;
  VectorHashes vh(hashes, kKey);
  Planner p(r, HolesMode::kSkip, &vh, B, 3 * B, 0);
  p.hole(0, 2 * B + B / 2, /*mapped=*/true);
  p.hole(2 * B + B / 2, B / 2, /*mapped=*/false);
  p.finish();
  EXPECT_EQ(r.log, "K0+4096 Z4096+4096 Z8192+2048 C10240+2048 ");
}

TEST(Planner, DeltaKeepsMatchingBlocksAndSendsTheRest) {
  const uint32_t B = 4096;
  // image: block0 data, block1 half data half hole, blocks 2-3 hole, block4 partial (100 bytes) hole
  const uint64_t size = 4 * B + 100;
  std::vector<uint8_t> image(size, 0);
  for (size_t i = 0; i < B + B / 2; ++i) image[i] = static_cast<uint8_t>(i * 7 + 1);
  std::vector<uint8_t> disk = image;
  disk[10] ^= 1;             // block 0 differs
  disk[3 * B + 5] = 9;       // block 3 differs (should be zero)
  std::vector<uint64_t> hashes;
  for (uint64_t o = 0; o < size; o += B) hashes.push_back(h(disk, o, std::min<uint64_t>(B, size - o)));
  Rec r;
  VectorHashes vh(hashes, kKey);
  Planner p(r, HolesMode::kZero, &vh, B, size, 0);
  p.data(0, std::span(image).first(B + B / 2));
  p.hole(B + B / 2, size - (B + B / 2), /*mapped=*/true);
  p.finish();
  EXPECT_EQ(r.log, "D0+4096 K4096+2048 K6144+2048 K8192+4096 Z12288+4096 K16384+100 ");
}

TEST(Planner, DeltaWithDontCareNeverTurnsHolesIntoKeep) {
  const uint32_t B = 4096;
  std::vector<uint8_t> image(2 * B, 0);
  for (size_t i = 0; i < B / 2; ++i) image[i] = 5;
  std::vector<uint64_t> hashes = {h(image, 0, B), 12345};
  Rec r;
  VectorHashes vh(hashes, kKey);
  Planner p(r, HolesMode::kSkip, &vh, B, 2 * B, 0);
  p.data(0, std::span(image).first(B / 2));
  p.hole(B / 2, B + B / 2, /*mapped=*/false);
  p.finish();
  EXPECT_EQ(r.log, "K0+2048 C2048+2048 C4096+4096 ");
}

// Hashes made with another key (an earlier session, or the unkeyed XXH3 a
// crafted disk could collide with) never match: every block is sent.
TEST(Planner, DeltaHashesOfAnotherKeyKeepNothing) {
  const uint32_t B = 4096;
  std::vector<uint8_t> image(2 * B, 3);
  std::vector<uint64_t> stale = {mkproto::delta_hash(mkproto::DeltaKey{1}, image.data(), B),
                                 mkproto::xxh3_64(image.data() + B, B)};
  Rec r;
  VectorHashes vh(stale, kKey);
  Planner p(r, HolesMode::kZero, &vh, B, 2 * B, 0);
  p.data(0, image);
  p.finish();
  EXPECT_EQ(r.log, "D0+4096 D4096+4096 ");
}

// With an image index the target's hashes are of each block's BLAKE2b-128
// (HashKind::kStrong): the planner compares data and zeros the same way,
// and places the blocks the index showed equal as SKIP keep, without bytes.
TEST(Planner, StrongHashesAndKeptBlocksFromAnIndex) {
  const uint32_t B = 4096;
  std::vector<uint8_t> img(3 * B + 100, 0);
  for (size_t i = B; i < 2 * B; ++i) img[i] = static_cast<uint8_t>(i);
  auto strong = [&](size_t off, size_t n) { return mkproto::delta_hash(kKey, mkproto::strong_hash(img.data() + off, n)); };
  // Block 0 kept (from the index), block 1 data the target holds, block 2 a
  // zero block over garbage, block 3 (short) kept.
  std::vector<uint64_t> hashes = {0, strong(B, B), 999, 0};
  VectorHashes disk(hashes, kKey, mkproto::HashKind::kStrong);
  EXPECT_EQ(disk.hash(std::span<const uint8_t>(img).subspan(B, B)), strong(B, B));
  EXPECT_NE(disk.hash(std::span<const uint8_t>(img).subspan(B, B)), h(img, B, B)) << "not the keyed hash of the bytes";
  Rec r;
  Planner p(r, HolesMode::kZero, &disk, B, img.size(), 0);
  p.keep(0, B);
  p.data(B, std::span<const uint8_t>(img).subspan(B, B));
  p.hole(2 * B, B, /*mapped=*/true);
  p.keep(3 * B, 100);  // the image's short last block
  p.finish();
  EXPECT_EQ(r.log, "K0+4096 K4096+4096 Z8192+4096 K12288+100 ");
  // Only whole blocks can be kept.
  Rec s;
  Planner q(s, HolesMode::kZero, &disk, B, img.size(), 0);
  EXPECT_THROW(q.keep(0, 100), std::logic_error);
}
