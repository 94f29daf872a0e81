// No bootable half-image: OPEN wipes the target's boot sectors before it
// answers, the image's boot sectors reach the disk only at FINISH, and a
// reconnect keeps what the agent held for them.
#include <cstring>

#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

namespace {

constexpr uint64_t kTail = 16 * 1024 + 512;

// An "installed disk": a DOS signature, a GPT header and a backup GPT header.
Bytes bootable_disk(size_t size, uint32_t seed) {
  Bytes d = random_bytes(size, seed);
  d[510] = 0x55;
  d[511] = 0xAA;
  std::memcpy(d.data() + 512, "EFI PART", 8);
  std::memcpy(d.data() + size - 512, "EFI PART", 8);
  return d;
}

bool zeros(const Bytes& b, uint64_t from, uint64_t to) {
  return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(to),
                     [](uint8_t x) { return x == 0; });
}

uint64_t sync(Channel& ch) {
  ch.send(encode(Sync{}));
  return decode<Ack>(ch.recv()).durable;
}

uint64_t finish(Channel& ch, uint64_t size) {
  ch.send(encode(Finish{size}));
  for (;;) {
    Frame f = ch.recv();
    if (f.type != FrameType::kAck) return decode<Finished>(f).watermark;
  }
}

}  // namespace

class AgentBoot : public AgentTest {};

TEST_F(AgentBoot, OpenWipesMbrGptAndBackupGptBeforeOpened) {
  const size_t size = 4 << 20;
  const Bytes old = bootable_disk(size, 1);
  write_file(path("disk"), old);
  auto ch = connect();
  open(*ch, path("disk"), 2 << 20);  // an image smaller than the disk: the old backup GPT must go too
  const Bytes disk = read_file(path("disk"));
  EXPECT_TRUE(zeros(disk, 0, 1 << 20));
  EXPECT_TRUE(zeros(disk, size - kTail, size));
  EXPECT_TRUE(std::equal(disk.begin() + (1 << 20), disk.end() - kTail, old.begin() + (1 << 20)));
}

TEST_F(AgentBoot, BootSectorsLandOnlyAtFinish) {
  const size_t size = 3 << 20;
  write_file(path("disk"), bootable_disk(size, 2));
  const Bytes image = bootable_disk(size, 3);
  auto ch = connect();
  open(*ch, path("disk"), size);
  send_data(*ch, 0, image);
  EXPECT_EQ(sync(*ch), size);  // applied and synced; the boot sectors are held
  Bytes disk = read_file(path("disk"));
  EXPECT_TRUE(zeros(disk, 0, 1 << 20)) << "boot sectors written before FINISH";
  EXPECT_TRUE(zeros(disk, size - kTail, size)) << "backup GPT written before FINISH";
  EXPECT_TRUE(std::equal(disk.begin() + (1 << 20), disk.end() - kTail, image.begin() + (1 << 20)));
  EXPECT_EQ(finish(*ch, size), size);
  EXPECT_EQ(read_file(path("disk")), image);
}

TEST_F(AgentBoot, AReconnectKeepsTheHeldBootSectors) {
  const size_t size = 4 << 20;
  write_file(path("disk"), bootable_disk(size, 4));
  const Bytes image = bootable_disk(size, 5);
  const SessionId id{77};
  {
    auto ch = connect();
    open(*ch, path("disk"), size, HolesMode::kZero, id);
    send_data(*ch, 0, std::span(image).first(1536 << 10));
  }  // dropped
  auto ch = connect();
  auto opened = open(*ch, path("disk"), size, HolesMode::kZero, id);
  ASSERT_TRUE(opened.resumed);
  EXPECT_EQ(opened.watermark, 1536u << 10);
  Bytes disk = read_file(path("disk"));
  // Not wiped again: what was written outside the boot sectors stays.
  EXPECT_TRUE(std::equal(image.begin() + (1 << 20), image.begin() + (1536 << 10), disk.begin() + (1 << 20)));
  EXPECT_TRUE(zeros(disk, 0, 1 << 20));
  send_data(*ch, opened.watermark, std::span(image).subspan(opened.watermark));
  EXPECT_EQ(finish(*ch, size), size);
  EXPECT_EQ(read_file(path("disk")), image);
}

TEST_F(AgentBoot, ARestartInsideTheHeadResendsItExactly) {
  const size_t size = 2 << 20;
  write_file(path("disk"), bootable_disk(size, 6));
  const Bytes image = bootable_disk(size, 7);
  const SessionId id{78};
  {
    auto ch = connect();
    open(*ch, path("disk"), size, HolesMode::kZero, id);
    send_data(*ch, 0, std::span(image).first(1 << 20));
  }
  auto ch = connect();
  auto opened = open(*ch, path("disk"), size, HolesMode::kZero, id);
  ASSERT_EQ(opened.watermark, 1u << 20);
  // Below the watermark, inside the head: a hole there now (ZERO), then data.
  ch->send(encode(Zero{0, 4096}));
  send_data(*ch, 4096, std::span(image).subspan(4096));
  EXPECT_EQ(finish(*ch, size), size);
  Bytes want = image;
  std::fill(want.begin(), want.begin() + 4096, 0);
  EXPECT_EQ(read_file(path("disk")), want);
}
