// TargetWriter: acknowledgements on time as well as on volume (between
// periodic syncs a progress ACK reports the applied position without
// claiming durability; a sync's ACK makes it durable), and the boot
// sectors' bytes routed to the BootRegion while everything else is written
// in place, whatever the frames' boundaries.
#include "target-agent/writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zstd.h>

#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace agent {
namespace {

struct Acks {
  std::mutex m;
  std::vector<std::pair<uint64_t, uint64_t>> got;  // (durable, applied)
  auto fn() {
    return [this](uint64_t d, uint64_t a) {
      std::lock_guard lk(m);
      got.emplace_back(d, a);
    };
  }
  std::vector<std::pair<uint64_t, uint64_t>> snapshot() {
    std::lock_guard lk(m);
    return got;
  }
};

WriteItem data(uint64_t offset, size_t n) {
  WriteItem w;
  w.kind = WriteItem::Kind::kData;
  w.offset = offset;
  w.length = n;
  w.payload.assign(n, 0x42);
  return w;
}

TEST(TargetWriter, AcknowledgesProgressOnTimeWithoutClaimingDurability) {
  mktest::TempDir dir("mkwriter");
  int fd = ::open(dir.file("t").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  Acks acks;
  {
    TargetWriter w(fd, false, 512, 0, acks.fn());
    w.push(data(0, 4096));
    // Less than kAckEvery after the start: nothing to say yet.
    ASSERT_TRUE(w.drain_and_sync() == 4096u);
    EXPECT_TRUE(acks.snapshot().empty());
    std::this_thread::sleep_for(TargetWriter::kAckEvery + std::chrono::milliseconds(100));
    w.push(data(4096, 8192));
    // The writer acknowledges from its own thread once the batch is applied.
    for (int i = 0; i < 200 && acks.snapshot().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto got = acks.snapshot();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].second, 4096u + 8192u);  // applied: everything given
    EXPECT_EQ(got[0].first, 4096u);           // durable: only what was synced
    EXPECT_EQ(w.drain_and_sync(), 4096u + 8192u);
  }
  ::close(fd);
}

// A run of small items inside one second gives no ACK at all: the timer, not
// the item count, decides (the 64 MiB volume rule is the other trigger).
TEST(TargetWriter, NoProgressAckBeforeItsTime) {
  mktest::TempDir dir("mkwriter");
  int fd = ::open(dir.file("t").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  Acks acks;
  {
    TargetWriter w(fd, false, 512, 0, acks.fn());
    for (uint64_t i = 0; i < 64; ++i) w.push(data(i * 4096, 4096));
    EXPECT_EQ(w.drain_and_sync(), 64u * 4096u);
  }
  EXPECT_TRUE(acks.snapshot().empty());
  ::close(fd);
}

}  // namespace
}  // namespace agent

using namespace mktest;

namespace {

constexpr uint64_t kDevice = 3u << 20;
constexpr uint64_t kTail = 16 * 1024 + 512;

agent::WriteItem data_item(const Bytes& image, uint64_t off, uint64_t n, bool zstd = false) {
  agent::WriteItem it;
  it.kind = agent::WriteItem::Kind::kData;
  it.offset = off;
  it.length = n;
  if (!zstd) {
    it.payload.assign(image.begin() + static_cast<std::ptrdiff_t>(off), image.begin() + static_cast<std::ptrdiff_t>(off + n));
    return it;
  }
  it.zstd = true;
  it.payload.resize(ZSTD_compressBound(n));
  it.payload.resize(ZSTD_compress(it.payload.data(), it.payload.size(), image.data() + off, n, 1));
  return it;
}

}  // namespace

TEST(TargetWriter, HoldsTheBootSectorsAndWritesTheRestInPlace) {
  TempDir dir("writer");
  const std::string path = dir.file("disk");
  write_file(path, Bytes(kDevice, 0xEE));
  base::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  agent::BootRegion boot(mkproto::boot_layout(kDevice, 512));
  boot.wipe(fd.get(), path);
  Bytes image = random_bytes(kDevice, 21);
  std::fill(image.begin() + 1300000, image.begin() + 1304000, 0);
  {
    agent::TargetWriter w(fd.get(), false, 512, 0, nullptr, &boot);
    // Frames that straddle both region edges, one of them compressed, and
    // a ZERO between: none of it may land in a region yet.
    w.push(data_item(image, 0, 700000));
    w.push(data_item(image, 700000, 500000, true));  // crosses 1 MiB
    w.push(data_item(image, 1200000, 100000));
    agent::WriteItem z;
    z.kind = agent::WriteItem::Kind::kZero;
    z.offset = 1300000;
    z.length = 4000;
    w.push(std::move(z));
    w.push(data_item(image, 1304000, kDevice - 1304000));  // crosses into the tail
    EXPECT_EQ(w.drain_and_sync(), kDevice);
  }
  Bytes disk = read_file(path);
  ASSERT_EQ(disk.size(), kDevice);
  EXPECT_TRUE(std::all_of(disk.begin(), disk.begin() + (1 << 20), [](uint8_t b) { return b == 0; }))
      << "the head reached the disk before commit";
  EXPECT_TRUE(std::all_of(disk.end() - kTail, disk.end(), [](uint8_t b) { return b == 0; }))
      << "the backup GPT reached the disk before commit";
  EXPECT_TRUE(std::equal(image.begin() + (1 << 20), image.end() - kTail, disk.begin() + (1 << 20)));
  EXPECT_EQ(boot.held_bytes(), (1u << 20) + kTail);
  boot.commit(fd.get(), kDevice, path);
  EXPECT_EQ(read_file(path), image);
}

TEST(TargetWriter, WithoutABootRegionWritesEverythingInPlace) {
  TempDir dir("writer");
  const std::string path = dir.file("disk");
  write_file(path, Bytes(1u << 20, 0xEE));
  base::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  const Bytes image = random_bytes(1u << 20, 22);
  {
    agent::TargetWriter w(fd.get(), false, 512, 0, nullptr);
    w.push(data_item(image, 0, image.size()));
    EXPECT_EQ(w.drain_and_sync(), image.size());
  }
  EXPECT_EQ(read_file(path), image);
}
