#include "protocol/boot_layout.h"

#include <gtest/gtest.h>

using namespace mkproto;

TEST(BootLayout, HeadIsTheFirstMiBAndTailTheBackupGpt) {
  const uint64_t dev = 64ull << 20;
  auto l = boot_layout(dev, 512);
  EXPECT_EQ(l.head_end, 1u << 20);
  EXPECT_EQ(l.tail_begin, dev - 33 * 512);  // LBA -33 .. -1 with 512-byte sectors
  auto l4k = boot_layout(dev, 4096);
  EXPECT_EQ(l4k.tail_begin, dev - 5 * 4096);  // LBA -5 .. -1 with 4 KiB sectors
  EXPECT_TRUE(l.in_boot(0));
  EXPECT_TRUE(l.in_boot((1u << 20) - 1));
  EXPECT_FALSE(l.in_boot(1u << 20));
  EXPECT_FALSE(l.in_boot(dev - 33 * 512 - 1));
  EXPECT_TRUE(l.in_boot(dev - 1));
}

TEST(BootLayout, OutsideIsOneRangeBetweenHeadAndTail) {
  const uint64_t dev = 8ull << 20;
  auto l = boot_layout(dev, 512);
  EXPECT_EQ(l.outside(0, dev), std::make_pair(uint64_t{1} << 20, dev - 33 * 512));
  EXPECT_EQ(l.outside(2 << 20, 3 << 20), std::make_pair(uint64_t{2} << 20, uint64_t{3} << 20));
  auto inside = l.outside(100, 200);
  EXPECT_EQ(inside.first, inside.second);
  auto in_tail = l.outside(dev - 100, dev);
  EXPECT_EQ(in_tail.first, in_tail.second);
}

TEST(BootLayout, SmallDevicesAreAllBootRegionWithoutOverlap) {
  auto l = boot_layout(4096, 512);
  EXPECT_EQ(l.head_end, 4096u);
  EXPECT_EQ(l.tail_begin, 4096u);
  auto o = l.outside(0, 4096);
  EXPECT_EQ(o.first, o.second);
  auto m = boot_layout((1u << 20) + 1000, 512);  // tail would start inside the head
  EXPECT_EQ(m.tail_begin, m.head_end);
}
