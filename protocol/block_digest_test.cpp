#include "protocol/block_digest.h"
#include "protocol/messages.h"

#include <gtest/gtest.h>

using namespace mkproto;

TEST(BlockDigest, ZerosEqualZeroData) {
  std::vector<uint8_t> z(10000, 0);
  BlockDigester a(10000, 4096), b(10000, 4096);
  a.data(0, z);
  b.zeros(0, 3000);
  b.zeros(3000, 7000);
  EXPECT_EQ(a.digests().size(), 3u);
  EXPECT_EQ(a.digests(), b.digests());
  EXPECT_EQ(a.overall(), b.overall());
}

TEST(BlockDigest, DontCareIsLeftOutAndDataChangesAreLocal) {
  std::vector<uint8_t> d(8192, 7);
  BlockDigester a(8192 * 2, 8192), b(8192 * 2, 8192);
  a.data(0, d);
  a.dont_care(8192, 8192);
  b.data(0, d);
  b.dont_care(8192, 8192);
  EXPECT_EQ(a.digests(), b.digests());
  BlockDigester c(8192 * 2, 8192);
  d[5] = 8;
  c.data(0, d);
  c.zeros(8192, 8192);
  EXPECT_NE(c.digests()[0], a.digests()[0]);
  EXPECT_NE(c.digests()[1], a.digests()[1]);  // zeros count, don't-care does not
}

TEST(BlockDigest, RewindRecomputesFromABlockBoundary) {
  std::vector<uint8_t> d(3 * 4096);
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 31);
  BlockDigester ref(d.size(), 4096), r(d.size(), 4096);
  ref.data(0, d);
  r.data(0, std::span(d).first(6000));
  r.rewind(4096);
  r.data(4096, std::span(d).subspan(4096));
  EXPECT_EQ(r.digests(), ref.digests());
  EXPECT_THROW(r.rewind(100), std::logic_error);
}

// A host that learns the size only at the image's end gets the digests it
// would have got with the size up front, short last block included.
TEST(BlockDigest, SizeLearnedAtTheEndGivesTheSameDigests) {
  for (size_t size : {size_t{0}, size_t{4096}, size_t{3 * 4096}, size_t{3 * 4096 + 5}}) {
    std::vector<uint8_t> d(size);
    for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(i * 7 + 1);
    BlockDigester known(size, 4096), late(kImageSizeUnknown, 4096);
    known.data(0, d);
    late.data(0, std::span(d).first(size / 2));
    late.zeros(size / 2, 0);
    late.data(size / 2, std::span(d).subspan(size / 2));
    late.end_at(size);
    EXPECT_EQ(late.digests(), known.digests()) << size;
    EXPECT_EQ(late.overall(), known.overall()) << size;
    EXPECT_THROW(late.end_at(size + 1), std::logic_error);
  }
}
