// VERIFY while the image streams: sent right after OPENED, the agent reads
// back each block once it is durable and sends its DIGESTS during the
// stream; the boot sectors' blocks (written at FINISH) come last, then
// VERIFY_END. A new connection reads the whole image back again.
#include <map>

#include "protocol/block_digest.h"
#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

namespace {

constexpr uint32_t kBlock = 1u << 20;
constexpr uint64_t kSize = 40ull << 20;  // > 2 syncs of the overlapped writer (16 MiB)

struct Collected {
  std::vector<std::pair<uint64_t, Digest128>> digests;  // in the order sent
  std::optional<VerifyEnd> end;
  size_t before_finish = 0;  // digests that came before FINISHED
};

// Takes a DIGESTS or VERIFY_END into `c`; false for anything else.
bool take(const Frame& f, Collected& c) {
  if (f.type == FrameType::kVerifyEnd) {
    c.end = decode<VerifyEnd>(f);
    return true;
  }
  if (f.type != FrameType::kDigests) return false;
  auto d = decode<Digests>(f);
  for (size_t i = 0; i < d.digests.size(); ++i) c.digests.emplace_back(f.offset + i * uint64_t{kBlock}, d.digests[i]);
  return true;
}

}  // namespace

class AgentEarlyVerify : public AgentTest {
 protected:
  // The image: random, with a ZERO hole at [12, 14) MiB and a delta block
  // kept (SKIP keep) at [8, 10) MiB, whose disk bytes are left as they are.
  void SetUp() override {
    AgentTest::SetUp();
    image_ = random_bytes(kSize, 21);
    for (uint64_t i = 12ull << 20; i < 14ull << 20; ++i) image_[i] = 0;
    write_file(path("disk"), Bytes(kSize, 0xee));
  }
  void place(Channel& ch, uint64_t from, uint64_t to) {
    const uint64_t keep_a = 8ull << 20, keep_b = 10ull << 20, hole_a = 12ull << 20, hole_b = 14ull << 20;
    for (uint64_t at = from; at < to;) {
      if (at >= keep_a && at < keep_b) {
        ch.send(encode(Skip{at, keep_b - at, SkipReason::kKeep}));
        at = keep_b;
      } else if (at >= hole_a && at < hole_b) {
        ch.send(encode(Zero{at, hole_b - at}));
        at = hole_b;
      } else {
        const uint64_t end = std::min({to, at < keep_a ? keep_a : at < hole_a ? hole_a : kSize});
        send_data(ch, at, std::span(image_).subspan(at, end - at), kBlock);
        at = end;
      }
    }
  }
  // What the host expects: the kept range left out (scope written).
  std::vector<Digest128> want() const {
    BlockDigester d(kSize, kBlock);
    d.data(0, std::span(image_).first(8ull << 20));
    d.dont_care(8ull << 20, 2ull << 20);
    d.data(10ull << 20, std::span(image_).subspan(10ull << 20));
    return d.digests();
  }
  // Reads frames until a DIGESTS arrives (bounded), collecting them.
  void wait_for_digests(Channel& ch, Collected& c) {
    for (int i = 0; i < 1000 && c.digests.empty(); ++i) {
      Frame f = ch.recv();
      if (f.type == FrameType::kAck) continue;
      ASSERT_TRUE(take(f, c)) << type_name(f.type);
    }
    ASSERT_FALSE(c.digests.empty()) << "no DIGESTS while the image streamed";
  }
  void finish_and_collect(Channel& ch, Collected& c) {
    ch.send(encode(Finish{kSize}));
    bool finished = false;
    for (int i = 0; i < 10000 && !c.end; ++i) {
      Frame f = ch.recv();
      if (f.type == FrameType::kAck) continue;
      if (f.type == FrameType::kFinished) {
        EXPECT_FALSE(finished);
        finished = true;
        c.before_finish = c.digests.size();
        continue;
      }
      ASSERT_TRUE(take(f, c)) << type_name(f.type);
      EXPECT_TRUE(finished || f.type == FrameType::kDigests) << "VERIFY_END before FINISHED";
    }
    ASSERT_TRUE(finished);
    ASSERT_TRUE(c.end);
  }
  void expect_all_verified(const Collected& c) {
    const auto w = want();
    std::map<uint64_t, Digest128> by_offset;
    Hash128 overall;
    for (const auto& [off, d] : c.digests) {
      EXPECT_TRUE(by_offset.emplace(off, d).second) << "block " << off << " twice";
      overall.update(d.data(), d.size());
    }
    ASSERT_EQ(by_offset.size(), w.size());
    for (const auto& [off, d] : by_offset) EXPECT_EQ(d, w[off / kBlock]) << "block at " << off;
    EXPECT_EQ(c.end->overall, overall.digest());
  }
  Bytes image_;
};

TEST_F(AgentEarlyVerify, ReadsBackDuringTheStreamAndTheBootBlocksAfterFinish) {
  auto ch = connect();
  open(*ch, path("disk"), kSize);
  ch->send(encode(Verify{kBlock, VerifyScope::kWritten, VerifyOverlap::kAlways}));
  place(*ch, 0, kSize);
  Collected c;
  wait_for_digests(*ch, c);
  finish_and_collect(*ch, c);
  expect_all_verified(c);
  EXPECT_TRUE(c.end->overlapped);
  EXPECT_GE(c.before_finish, 1u);
  // The first block holds the boot sectors (written at FINISH), the last
  // the backup GPT of this 40 MiB "disk": both are read after FINISH.
  EXPECT_EQ(c.digests.front().first, uint64_t{kBlock});
  size_t head_at = 0;
  for (size_t i = 0; i < c.digests.size(); ++i)
    if (c.digests[i].first == 0) head_at = i;
  EXPECT_GE(head_at, c.before_finish);
  // Everything but the kept range and the hole was read.
  EXPECT_EQ(c.end->bytes_read, kSize - (4ull << 20));
  bye(*ch);
}

// A connection dropped mid-stream: the next one reads the whole image back
// again, so a byte that went bad on the disk after the first connection had
// read it back (and sent its digest) is still caught.
TEST_F(AgentEarlyVerify, ANewConnectionReadsEverythingBackAgain) {
  const SessionId id{9};
  {
    auto ch = connect();
    open(*ch, path("disk"), kSize, HolesMode::kZero, id);
    ch->send(encode(Verify{kBlock, VerifyScope::kWritten, VerifyOverlap::kAlways}));
    place(*ch, 0, 24ull << 20);
    Collected c;
    wait_for_digests(*ch, c);
    auto had_block_5 = [&] {
      for (const auto& [off, d] : c.digests)
        if (off == 5ull * kBlock) return true;
      return false;
    };
    // [1, 16) MiB is durable: its digests come (each recv bounded by its timeout).
    for (int i = 0; i < 1000 && !had_block_5(); ++i) {
      Frame f = ch->recv();
      if (f.type != FrameType::kAck) {
        ASSERT_TRUE(take(f, c));
      }
    }
    ASSERT_TRUE(had_block_5());
  }  // dropped mid-stream
  const uint64_t bad = 5ull * kBlock + 3;
  flip_byte(path("disk"), bad);
  auto ch = connect();
  auto o = open(*ch, path("disk"), kSize, HolesMode::kZero, id);
  ASSERT_TRUE(o.resumed);
  ASSERT_GE(o.watermark, 16ull << 20);
  ch->send(encode(Verify{kBlock, VerifyScope::kWritten, VerifyOverlap::kAlways}));
  // The kept range lies before the watermark: this connection's VERIFY
  // still leaves it out, from the session's record.
  place(*ch, o.watermark, kSize);
  Collected c;
  finish_and_collect(*ch, c);
  const auto w = want();
  ASSERT_EQ(c.digests.size(), w.size());
  for (const auto& [off, d] : c.digests) {
    if (off == 5ull * kBlock)
      EXPECT_NE(d, w[5]) << "the byte flipped on the disk was not caught";
    else
      EXPECT_EQ(d, w[off / kBlock]) << "block at " << off;
  }
  EXPECT_TRUE(c.end->overlapped);
  bye(*ch);
}
