// Which verify blocks a repair round re-sends, and how they are named.
#include "mkmaster/push/repair.h"

#include <gtest/gtest.h>

using namespace push;
using mkproto::Digest128;

namespace {

Digest128 d(uint8_t v) {
  Digest128 x{};
  x.fill(v);
  return x;
}

AgentClient::VerifyReply reply(std::vector<std::pair<uint64_t, Digest128>> got) {
  AgentClient::VerifyReply r;
  for (auto& [off, dg] : got) {
    r.offsets.push_back(off);
    r.digests.push_back(dg);
  }
  return r;
}

}  // namespace

TEST(RepairRanges, AdjacentBadBlocksMergeAndTheLastBlockIsShort) {
  const std::vector<Digest128> want = {d(0), d(1), d(2), d(3), d(4)};
  // Image of 4.5 blocks of 4096: blocks 1, 2 and 4 (short) differ.
  auto got = reply({{0, d(0)}, {4096, d(9)}, {8192, d(9)}, {12288, d(3)}, {16384, d(9)}});
  auto bad = mismatched_blocks(want, got, 4096, 4 * 4096 + 100);
  EXPECT_EQ(bad, (std::vector<ByteRange>{{4096, 12288}, {16384, 16484}}));
  EXPECT_TRUE(mismatched_blocks(want, reply({{4096, d(1)}, {16384, d(4)}}), 4096, 16484).empty());
}

TEST(RepairRanges, ADigestTheAgentShouldNotHaveSentIsRefused) {
  const std::vector<Digest128> want = {d(0), d(1)};
  for (auto got : {reply({{100, d(0)}}), reply({{8192, d(0)}}), reply({{4096, d(1)}, {4096, d(1)}})}) {
    try {
      mismatched_blocks(want, got, 4096, 8192);
      ADD_FAILURE() << "accepted";
    } catch (const mkproto::ProtocolError& e) {
      EXPECT_EQ(e.code, mkproto::ErrorCode::kMalformed);
      EXPECT_NE(std::string(e.what()).find("verify digest for the block at"), std::string::npos) << e.what();
    }
  }
}

TEST(RepairRanges, DescribedByByteOffsets) {
  EXPECT_EQ(describe_ranges({{0, 10}}), "[0, 10)");
  EXPECT_EQ(describe_ranges({{0, 10}, {20, 30}}), "[0, 10) and [20, 30)");
  EXPECT_EQ(describe_ranges({{0, 1}, {2, 3}, {4, 5}}), "[0, 1), [2, 3) and [4, 5)");
  EXPECT_EQ(describe_ranges({{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}}), "[0, 1), [2, 3), [4, 5) and 2 more ranges");
}
