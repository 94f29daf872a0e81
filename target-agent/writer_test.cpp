// TargetWriter's acknowledgements: on time as well as on volume. Between
// periodic syncs a progress ACK reports the applied position without
// claiming durability; a sync's ACK makes it durable.
#include "target-agent/writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <mutex>
#include <thread>
#include <utility>
#include <vector>

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
