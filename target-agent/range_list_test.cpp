#include "target-agent/range_list.h"

#include <gtest/gtest.h>

namespace agent {
namespace {

TEST(RangeList, AppendsMergesAndTruncates) {
  RangeList l;
  l.add(0, 10);
  l.add(10, 20);  // touching: merged
  l.add(30, 40);
  l.add(35, 50);  // overlapping (a resumed host re-sends a block): merged
  l.add(60, 60);  // empty: ignored
  EXPECT_EQ(l.ranges(), (std::vector<ByteRange>{{0, 20}, {30, 50}}));
  EXPECT_THROW(l.add(5, 8), std::logic_error);
  l.truncate(45);
  EXPECT_EQ(l.ranges(), (std::vector<ByteRange>{{0, 20}, {30, 45}}));
  l.truncate(30);
  EXPECT_EQ(l.ranges(), (std::vector<ByteRange>{{0, 20}}));
  l.truncate(0);
  EXPECT_TRUE(l.empty());
}

TEST(RangeList, MergeIsTheOrderedUnion) {
  std::vector<ByteRange> a{{0, 4}, {10, 12}, {20, 30}};
  std::vector<ByteRange> b{{4, 8}, {12, 14}, {25, 40}, {50, 60}};
  EXPECT_EQ(merge_ranges(a, b), (std::vector<ByteRange>{{0, 8}, {10, 14}, {20, 40}, {50, 60}}));
  EXPECT_EQ(merge_ranges({}, b), b);
  EXPECT_TRUE(merge_ranges({}, {}).empty());
}

}  // namespace
}  // namespace agent
