// REPAIR: after FINISHED the host rewrites the verify blocks that read back
// wrong; the agent writes only inside the announced ranges, keeps the
// session's watermark at the whole image, and the next VERIFY reads back
// only what the round repaired.
#include <fcntl.h>
#include <unistd.h>

#include "protocol/block_digest.h"
#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

namespace {

constexpr uint32_t kBlock = 64 << 10;
const size_t kSize = 4 * kBlock + 5000;  // a short last block

struct Reply {
  std::vector<std::pair<uint64_t, Digest128>> digests;  // by block offset
  VerifyEnd end;
};

Reply verify(Channel& ch) {
  ch.send(encode(Verify{kBlock}));
  Reply r;
  for (;;) {
    Frame f = ch.recv();
    if (f.type == FrameType::kAck) continue;
    if (f.type == FrameType::kVerifyEnd) {
      r.end = decode<VerifyEnd>(f);
      return r;
    }
    auto d = decode<Digests>(f);
    for (size_t i = 0; i < d.digests.size(); ++i) r.digests.emplace_back(f.offset + i * kBlock, d.digests[i]);
  }
}

uint64_t finish(Channel& ch, uint64_t size) {
  ch.send(encode(Finish{size}));
  for (;;) {
    Frame f = ch.recv();
    if (f.type != FrameType::kAck) return decode<Finished>(f).watermark;
  }
}

void corrupt(const std::string& file, uint64_t at) {
  int fd = ::open(file.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  uint8_t b = 0x5a;
  ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(at)), 1);
  ::close(fd);
}

}  // namespace

class AgentRepair : public AgentTest {
 protected:
  // The image written and FINISHED on `ch`; the block digests it should have.
  void write_image(Channel& ch) {
    image_ = random_bytes(kSize, 7);
    for (size_t i = 2 * kBlock; i < 3 * kBlock; ++i) image_[i] = 0;  // block 2 is a hole
    write_file(path("disk"), random_bytes(kSize, 8));
    open(ch, path("disk"), kSize);
    send_data(ch, 0, std::span(image_).first(2 * kBlock));
    ch.send(encode(Zero{2 * kBlock, kBlock}));
    send_data(ch, 3 * kBlock, std::span(image_).subspan(3 * kBlock));
    ASSERT_EQ(finish(ch, kSize), kSize);
    BlockDigester d(kSize, kBlock);
    d.data(0, image_);
    want_ = d.digests();
  }
  Bytes image_;
  std::vector<Digest128> want_;
};

TEST_F(AgentRepair, RewritesOnlyItsRangesAndVerifiesOnlyThem) {
  auto ch = connect();
  write_image(*ch);
  const uint64_t bad1 = kBlock + 10, bad2 = 2 * kBlock + 99, bad_tail = 4 * kBlock + 4000;
  for (uint64_t at : {bad1, bad2, bad_tail}) corrupt(path("disk"), at);
  const uint64_t elsewhere = 3 * kBlock + 1;  // not repaired: must stay as it is
  corrupt(path("disk"), elsewhere);

  ch->send(encode(Repair{kBlock, 2 * kBlock}));  // blocks 1 and 2: data, then a hole
  send_data(*ch, kBlock, std::span(image_).subspan(kBlock, kBlock));
  ch->send(encode(Zero{2 * kBlock, kBlock}));
  ch->send(encode(Repair{4 * kBlock, kSize - 4 * kBlock}));  // the short last block
  send_data(*ch, 4 * kBlock, std::span(image_).subspan(4 * kBlock));
  EXPECT_EQ(finish(*ch, kSize), kSize);

  auto disk = read_file(path("disk"));
  ASSERT_EQ(disk.size(), kSize);
  for (uint64_t at : {bad1, bad2, bad_tail}) EXPECT_EQ(disk[at], image_[at]) << at;
  EXPECT_EQ(disk[elsewhere], 0x5a);

  Reply r = verify(*ch);
  ASSERT_EQ(r.digests.size(), 3u);
  EXPECT_EQ(r.digests[0].first, uint64_t{kBlock});
  EXPECT_EQ(r.digests[1].first, 2u * kBlock);
  EXPECT_EQ(r.digests[2].first, 4u * kBlock);
  for (auto& [off, d] : r.digests) EXPECT_EQ(d, want_[off / kBlock]) << off;
  Hash128 overall;
  for (auto& [off, d] : r.digests) overall.update(d.data(), d.size());
  EXPECT_EQ(r.end.overall, overall.digest());
  EXPECT_LE(r.end.bytes_read, 2u * kBlock + 5000);  // the zeroed hole need not be read

  // The next VERIFY is a whole one again, and finds the block left alone.
  Reply all = verify(*ch);
  ASSERT_EQ(all.digests.size(), want_.size());
  EXPECT_NE(all.digests[3].second, want_[3]);
  EXPECT_EQ(all.digests[1].second, want_[1]);
  bye(*ch);

  // The session is still the whole image, durable.
  auto again = connect();
  auto o = open(*again, path("disk"), kSize);
  EXPECT_TRUE(o.resumed);
  EXPECT_EQ(o.watermark, kSize);
  bye(*again);
}

TEST_F(AgentRepair, RefusesFramesOutsideTheRoundAndKeepsTheWatermark) {
  {
    auto ch = connect();
    write_file(path("disk0"), Bytes(kBlock));
    open(*ch, path("disk0"), kBlock, HolesMode::kZero, SessionId{2});  // not FINISHED
    ch->send(encode(Repair{0, kBlock}));
    EXPECT_NE(expect_error(*ch, ErrorCode::kUnexpected).message.find("before the session is FINISHED"),
              std::string::npos);
  }
  {
    auto ch = connect();
    write_image(*ch);
    bye(*ch);
  }
  struct Case {
    const char* name;
    ErrorCode code;
    const char* says;
    std::function<void(Channel&)> send;
  };
  const std::vector<Case> cases = {
      {"past the image", ErrorCode::kOutOfRange, "reaches past the image size",
       [](Channel& ch) { ch.send(encode(Repair{4 * kBlock, kBlock})); }},
      {"data past the range", ErrorCode::kOutOfRange, "reaches past the repair of [65536, 131072)",
       [&](Channel& ch) {
         ch.send(encode(Repair{kBlock, kBlock}));
         ch.send(encode(Zero{kBlock, 2 * kBlock}));
       }},
      {"a gap", ErrorCode::kOutOfOrder, "where 65536 was expected",
       [&](Channel& ch) {
         ch.send(encode(Repair{kBlock, kBlock}));
         ch.send(encode(Zero{kBlock + 4096, 4096}));
       }},
      {"range not covered at FINISH", ErrorCode::kIncomplete, "covered only to 69632",
       [&](Channel& ch) {
         ch.send(encode(Repair{kBlock, kBlock}));
         ch.send(encode(Zero{kBlock, 4096}));
         ch.send(encode(Finish{kSize}));
       }},
      {"ranges out of order", ErrorCode::kOutOfOrder, "starts before the previous one ended",
       [&](Channel& ch) {
         ch.send(encode(Repair{2 * kBlock, kBlock}));
         ch.send(encode(Zero{2 * kBlock, kBlock}));
         ch.send(encode(Repair{0, kBlock}));
       }},
      {"VERIFY inside a round", ErrorCode::kUnexpected, "VERIFY during a repair",
       [&](Channel& ch) {
         ch.send(encode(Repair{kBlock, kBlock}));
         ch.send(encode(Zero{kBlock, kBlock}));
         ch.send(encode(Verify{kBlock}));
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto ch = connect();
    auto o = open(*ch, path("disk"), kSize);
    ASSERT_TRUE(o.resumed);
    ASSERT_EQ(o.watermark, kSize);
    c.send(*ch);
    auto e = expect_error(*ch, c.code);
    EXPECT_NE(e.message.find(c.says), std::string::npos) << e.message;
    EXPECT_EQ(e.watermark, kSize);  // an interrupted repair does not lower it
  }
  // Outside a round, placement frames after FINISH are still refused.
  auto ch = connect();
  open(*ch, path("disk"), kSize);
  ch->send(encode(Zero{0, kBlock}));
  EXPECT_NE(expect_error(*ch, ErrorCode::kUnexpected).message.find("after FINISH"), std::string::npos);
}
