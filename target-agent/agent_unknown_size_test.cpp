// An image whose size the host learns only at its end: OPEN announces it
// as unknown, the target's size bounds the placements, FINISH tells it.
#include "protocol/block_digest.h"
#include "protocol/messages.h"
#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

namespace {

constexpr uint32_t kVerifyBlock = 64 << 10;

class AgentUnknownSize : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    garbage_ = random_bytes(1 << 20, 77);
    write_file(path("disk"), garbage_);
  }
  Frame next_not_ack(Channel& ch) {
    for (;;) {
      Frame f = ch.recv();
      if (f.type != FrameType::kAck) return f;
    }
  }
  std::vector<uint8_t> garbage_;
};

}  // namespace

TEST_F(AgentUnknownSize, FinishTellsTheSizeAndVerifyCoversExactlyIt) {
  const size_t size = 300000;  // not a multiple of the verify block
  auto image = random_bytes(size, 78);
  auto ch = connect();
  open(*ch, path("disk"), kImageSizeUnknown);
  send_data(*ch, 0, image);
  ch->send(encode(Finish{size}));
  EXPECT_EQ(decode<Finished>(next_not_ack(*ch)).watermark, size);
  ch->send(encode(Verify{kVerifyBlock}));
  std::vector<Digest128> got;
  for (;;) {
    Frame f = next_not_ack(*ch);
    if (f.type == FrameType::kVerifyEnd) break;
    auto d = decode<Digests>(f);
    got.insert(got.end(), d.digests.begin(), d.digests.end());
  }
  BlockDigester want(kImageSizeUnknown, kVerifyBlock);
  want.data(0, image);
  want.end_at(size);
  EXPECT_EQ(got, want.digests());
  bye(*ch);
  auto disk = read_file(path("disk"));
  EXPECT_TRUE(std::equal(image.begin(), image.end(), disk.begin()));
  // Past the image the target is as OPEN's wipe left it: this 1 MiB
  // target is all boot region (docs/protocol.md, "Boot sectors last").
  EXPECT_TRUE(std::all_of(disk.begin() + size, disk.end(), [](uint8_t x) { return x == 0; })) << "wrote past the image";
}

TEST_F(AgentUnknownSize, TheFrameCrossingTheTargetsEndIsRefusedWhole) {
  auto data = random_bytes(768 << 10, 79);
  auto ch = connect();
  open(*ch, path("disk"), kImageSizeUnknown);
  send_data(*ch, 0, std::span(data).first(512 << 10));
  // [512 KiB, 1280 KiB) crosses the 1 MiB target's end.
  ch->send_raw(FrameType::kData, 0, 512 << 10, data);
  auto e = expect_error(*ch, ErrorCode::kImageTooLarge);
  EXPECT_EQ(e.watermark, 512u << 10);
  EXPECT_NE(e.message.find("reaches past the end of " + path("disk") + " (1048576 bytes)"), std::string::npos)
      << e.message;
  EXPECT_NE(e.message.find("larger than the target"), std::string::npos) << e.message;
  auto disk = read_file(path("disk"));
  ASSERT_EQ(disk.size(), garbage_.size());
  // All boot region: the accepted frames are held until FINISH, the refused
  // one is nowhere; the disk is as OPEN's wipe left it.
  EXPECT_TRUE(std::all_of(disk.begin(), disk.end(), [](uint8_t x) { return x == 0; }))
      << "wrote a part of the refused frame, or the boot sectors before FINISH";
}

TEST_F(AgentUnknownSize, FinishLargerThanTheTargetIsRefused) {
  auto ch = connect();
  open(*ch, path("disk"), kImageSizeUnknown);
  send_data(*ch, 0, random_bytes(4096, 80));
  ch->send(encode(Finish{garbage_.size() + 1}));
  auto e = expect_error(*ch, ErrorCode::kImageTooLarge);
  EXPECT_NE(e.message.find("only 1048576 bytes"), std::string::npos) << e.message;
}

// A resume announces the size as the first OPEN did, and after FINISH the
// session knows the size it was told.
TEST_F(AgentUnknownSize, AResumeAnnouncesUnknownAgain) {
  auto image = random_bytes(200000, 81);
  const SessionId id{9};
  {
    auto ch = connect();
    open(*ch, path("disk"), kImageSizeUnknown, HolesMode::kZero, id);
    send_data(*ch, 0, image);
    ch->send(encode(Finish{image.size()}));
    EXPECT_EQ(decode<Finished>(next_not_ack(*ch)).watermark, image.size());
    bye(*ch);
  }
  auto ch = connect();
  ch->send(encode(Open{id, path("disk"), image.size(), HolesMode::kZero}));
  expect_error(*ch, ErrorCode::kBadRequest);
  auto again = connect();
  auto opened = open(*again, path("disk"), kImageSizeUnknown, HolesMode::kZero, id);
  EXPECT_TRUE(opened.resumed);
  EXPECT_EQ(opened.watermark, image.size());
  again->send(encode(Finish{image.size()}));
  EXPECT_EQ(decode<Finished>(next_not_ack(*again)).watermark, image.size());
  bye(*again);
}
