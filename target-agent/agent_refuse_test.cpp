// Everything the agent must refuse — each with its specific error code and
// without writing anything past what it acknowledged.
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "protocol/boot_layout.h"
#include "protocol/wire.h"
#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

class AgentRefuse : public AgentTest {
 protected:
  void SetUp() override {
    AgentTest::SetUp();
    garbage_ = random_bytes(1 << 20, 99);
    write_file(path("disk"), garbage_);
  }
  bool disk_untouched() { return read_file(path("disk")) == garbage_; }
  std::vector<uint8_t> garbage_;
};

TEST_F(AgentRefuse, WrongSecretWritesNothing) {
  auto ch = connect_raw();
  try {
    client_handshake(*ch, derive_key("this is not the agent's secret"), "intruder");
    FAIL() << "authenticated with a wrong secret";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kAuthFailed);
  }
  // Whatever follows goes nowhere: the agent has closed the connection.
  try {
    ch->send(encode(Open{SessionId{}, path("disk"), 4096, HolesMode::kZero}));
    send_data(*ch, 0, random_bytes(4096, 1));
    ch->recv();
    FAIL() << "agent answered after a failed authentication";
  } catch (const ConnectionClosed&) {
  }
  EXPECT_TRUE(disk_untouched());
}

TEST_F(AgentRefuse, AnyFrameBeforeAuthentication) {
  auto ch = connect_raw();
  ch->send(encode(Open{SessionId{}, path("disk"), 4096, HolesMode::kZero}));
  expect_error(*ch, ErrorCode::kNotAuthenticated);
  auto ch2 = connect_raw();
  send_data(*ch2, 0, random_bytes(512, 1));
  expect_error(*ch2, ErrorCode::kNotAuthenticated);
  EXPECT_TRUE(disk_untouched());
}

TEST_F(AgentRefuse, ImageLargerThanTargetBeforeTheFirstWrite) {
  auto ch = connect();
  ch->send(encode(Open{SessionId{}, path("disk"), garbage_.size() + 1, HolesMode::kZero}));
  auto e = expect_error(*ch, ErrorCode::kImageTooLarge);
  EXPECT_NE(e.message.find(std::to_string(garbage_.size())), std::string::npos) << e.message;
  EXPECT_TRUE(disk_untouched());
}

TEST_F(AgentRefuse, RegularFileWithoutAllowFileAndOtherThanTarget) {
  start(/*allow_file=*/false);
  auto ch = connect();
  ch->send(encode(Open{SessionId{}, path("disk"), 4096, HolesMode::kZero}));
  expect_error(*ch, ErrorCode::kNotAllowed);
  start(/*allow_file=*/true, path("other"));
  auto ch2 = connect();
  ch2->send(encode(TargetQuery{path("disk")}));
  expect_error(*ch2, ErrorCode::kNotAllowed);
  EXPECT_TRUE(disk_untouched());
}

TEST_F(AgentRefuse, PlacementBeforeOpen) {
  auto ch = connect();
  send_data(*ch, 0, random_bytes(4096, 1));
  expect_error(*ch, ErrorCode::kNoSession);
  EXPECT_TRUE(disk_untouched());
}

// The frames under test lie past the boot sectors, which the agent holds
// until FINISH (docs/protocol.md, "Boot sectors last"), so what reached the
// disk shows there; the boot sectors themselves stay as OPEN wiped them.
TEST_F(AgentRefuse, GapOverlapAndOutOfRangeStopAtTheLastGoodFrame) {
  const uint64_t B = kBootHeadBytes;
  const auto garbage = random_bytes(2 * B + (64 << 10), 98);
  auto boot = random_bytes(B, 4);
  auto data = random_bytes(8192, 5);
  struct Case {
    uint64_t second_offset;
    size_t second_len;
    uint64_t image_size;
    ErrorCode code;
  };
  for (Case c : {Case{B + 8192 + 4096, 4096, 2 * B, ErrorCode::kOutOfOrder},   // gap
                 Case{B + 4096, 4096, 2 * B, ErrorCode::kOutOfOrder},          // overlap
                 Case{B + 8192, 8192, B + 8192 + 4096, ErrorCode::kOutOfRange}}) {   // past image end
    write_file(path("disk"), garbage);
    auto ch = connect();
    // A new session each (a resumed one is not wiped again).
    open(*ch, path("disk"), c.image_size, HolesMode::kZero,
         SessionId{static_cast<uint8_t>(c.code), static_cast<uint8_t>(c.second_offset >> 12)});
    send_data(*ch, 0, boot);
    send_data(*ch, B, data);
    ch->send_raw(FrameType::kData, 0, c.second_offset, std::span(data).first(c.second_len));
    auto e = expect_error(*ch, c.code);
    EXPECT_EQ(e.watermark, B + 8192);  // the frames before were good and are durable
    auto disk = read_file(path("disk"));
    EXPECT_TRUE(std::equal(data.begin(), data.end(), disk.begin() + B));
    const uint64_t tail = garbage.size() - (16 << 10) - 512;
    EXPECT_TRUE(std::equal(garbage.begin() + B + 8192, garbage.begin() + tail, disk.begin() + B + 8192))
        << "wrote past the bad frame";
    EXPECT_TRUE(std::all_of(disk.begin(), disk.begin() + B, [](uint8_t x) { return x == 0; }))
        << "boot sectors written without FINISH";
  }
}

TEST_F(AgentRefuse, CorruptedFrameIsDetectedAndNothingAfterItWritten) {
  const uint64_t B = kBootHeadBytes;
  const auto garbage = random_bytes(2 * B + (64 << 10), 97);
  write_file(path("disk"), garbage);
  auto data = random_bytes(B + 16384, 6);
  auto ch = connect();
  open(*ch, path("disk"), 2 * B);
  send_data(*ch, 0, std::span(data).first(B + 8192));
  Frame f;
  f.type = FrameType::kData;
  f.offset = B + 8192;
  f.payload.assign(data.begin() + B + 8192, data.end());
  auto bytes = ch->encode_next(f);
  bytes[kHeaderSize + 100] ^= 0x10;  // a bit flipped on the wire: the tag no longer matches
  ASSERT_EQ(::send(ch->fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  auto e = expect_error(*ch, ErrorCode::kBadMac);
  EXPECT_EQ(e.watermark, B + 8192);
  auto disk = read_file(path("disk"));
  EXPECT_TRUE(std::equal(data.begin() + B, data.begin() + B + 8192, disk.begin() + B));
  const uint64_t tail = garbage.size() - (16 << 10) - 512;
  EXPECT_TRUE(std::equal(garbage.begin() + B + 8192, garbage.begin() + tail, disk.begin() + B + 8192));
}

TEST_F(AgentRefuse, OversizedAndUnknownFrames) {
  auto ch = connect();
  std::array<uint8_t, kHeaderSize> h = encode_header(FrameType::kData, 0, ch->next_seq(), 0, {});
  put_le(&h[8], kMaxPayload + 1, 4);  // length field only; checksum is not reached
  ASSERT_EQ(::send(ch->fd(), h.data(), h.size(), MSG_NOSIGNAL), static_cast<ssize_t>(h.size()));
  expect_error(*ch, ErrorCode::kTooLarge);
  auto ch2 = connect();
  Frame f;
  f.seq = ch2->next_seq();
  f.type = FrameType::kData;
  auto bytes = encode_frame(f);
  bytes[5] = 99;  // unknown type
  ASSERT_EQ(::send(ch2->fd(), bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  expect_error(*ch2, ErrorCode::kBadType);
  auto ch3 = connect();
  ch3->send(encode(Ack{0}));  // a reply type sent as a request
  expect_error(*ch3, ErrorCode::kUnexpected);
  auto ch4 = connect();
  Frame bad_open = encode(Open{});
  bad_open.payload.resize(3);
  ch4->send(bad_open);
  expect_error(*ch4, ErrorCode::kMalformed);
  EXPECT_TRUE(disk_untouched());
}

TEST_F(AgentRefuse, FinishBeforeEverythingIsCovered) {
  auto ch = connect();
  open(*ch, path("disk"), 65536);
  send_data(*ch, 0, random_bytes(4096, 1));
  ch->send(encode(Finish{65536}));
  auto e = expect_error(*ch, ErrorCode::kIncomplete);
  EXPECT_EQ(e.watermark, 4096u);
}

TEST_F(AgentRefuse, AnotherSessionOnABusyTarget) {
  auto ch = connect();
  open(*ch, path("disk"), 65536, HolesMode::kZero, SessionId{1});
  auto ch2 = connect();
  ch2->send(encode(Open{SessionId{2}, path("disk"), 65536, HolesMode::kZero}));
  expect_error(*ch2, ErrorCode::kBusy);
}

// A mounted file system on a loop device: the device and its backing file
// are both refused. Needs root and loop devices.
TEST_F(AgentRefuse, MountedDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to attach a loop device and mount it";
  if (::access("/dev/loop-control", W_OK) != 0) GTEST_SKIP() << "no /dev/loop-control: loop devices unavailable";
  if (std::system("command -v losetup >/dev/null && command -v mkfs.ext4 >/dev/null") != 0)
    GTEST_SKIP() << "losetup or mkfs.ext4 not installed";
  std::string img = path("fs.img"), mnt = path("mnt");
  ASSERT_EQ(std::system(("truncate -s 8M " + img + " && mkfs.ext4 -q -F " + img + " && mkdir " + mnt).c_str()), 0);
  FILE* p = ::popen(("losetup --find --show " + img).c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[64] = {};
  bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  int rc = ::pclose(p);
  if (!got || rc != 0) GTEST_SKIP() << "losetup could not attach a loop device here";
  std::string dev = buf;
  dev.erase(dev.find_last_not_of("\n") + 1);
  if (::mount(dev.c_str(), mnt.c_str(), "ext4", 0, nullptr) != 0) {
    std::system(("losetup -d " + dev).c_str());
    GTEST_SKIP() << "mount of " << dev << " failed: " << std::strerror(errno);
  }
  {
    auto ch = connect();
    ch->send(encode(TargetQuery{dev}));
    auto info = decode<TargetInfo>(ch->recv());
    EXPECT_TRUE(info.mounted);
    EXPECT_EQ(info.kind, TargetKind::kBlockDevice);
    EXPECT_EQ(info.size, 8u << 20);
    EXPECT_NE(info.mount_point.find(mnt), std::string::npos) << info.mount_point;
    ch->send(encode(Open{SessionId{7}, dev, 4096, HolesMode::kZero}));
    auto e = expect_error(*ch, ErrorCode::kMounted);
    EXPECT_NE(e.message.find(mnt), std::string::npos) << e.message;
    try {  // the connection is closed after the refusal: this goes nowhere
      ch->send_raw(FrameType::kData, 0, 0, std::vector<uint8_t>(1024, 0xff));
    } catch (const ConnectionClosed&) {
    }
    auto ch2 = connect();
    ch2->send(encode(Open{SessionId{8}, img, 4096, HolesMode::kZero}));
    expect_error(*ch2, ErrorCode::kMounted);
  }
  ::umount(mnt.c_str());
  std::system(("losetup -d " + dev).c_str());
  // ext4 never touches its first 1024 bytes; the refused DATA would have.
  auto after = read_file(img);
  EXPECT_TRUE(std::all_of(after.begin(), after.begin() + 1024, [](uint8_t b) { return b == 0; }));
}
