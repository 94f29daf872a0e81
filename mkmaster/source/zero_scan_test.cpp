#include "mkmaster/source/zero_scan.h"

#include <gtest/gtest.h>

#include <vector>

namespace source {

TEST(ZeroScan, AllZeroAtEveryLengthAndAlignment) {
  std::vector<uint8_t> buf(4096 + 64, 0);
  for (size_t align = 0; align < 9; ++align)
    for (size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 127u, 4095u, 4096u})
      EXPECT_TRUE(is_zero(buf.data() + align, n)) << "align " << align << " n " << n;
}

TEST(ZeroScan, FindsASingleSetBitAnywhere) {
  // A set bit at every position of a block, for several misalignments:
  // head bytes, 64-byte lines, the 8-byte words and the tail are all checked.
  std::vector<uint8_t> buf(4096 + 16, 0);
  for (size_t align : {0u, 1u, 5u}) {
    const size_t n = 4096 + 3;  // a tail that is not a whole word
    for (size_t i = 0; i < n; ++i) {
      buf[align + i] = 0x80;
      ASSERT_FALSE(is_zero(buf.data() + align, n)) << "align " << align << " byte " << i;
      buf[align + i] = 0;
    }
  }
}

TEST(ZeroScan, IgnoresBytesOutsideTheRange) {
  std::vector<uint8_t> buf(200, 0);
  buf[0] = 1;
  buf[199] = 1;
  EXPECT_TRUE(is_zero(buf.data() + 1, 198));
  EXPECT_FALSE(is_zero(buf.data(), 198));
  EXPECT_FALSE(is_zero(buf.data() + 2, 198));
}

}  // namespace source
