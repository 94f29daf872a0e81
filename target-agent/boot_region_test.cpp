// The boot sectors' life in a push: wiped, held, committed last.
#include "target-agent/boot_region.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "protocol/errors.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

using namespace mktest;

namespace {

constexpr uint64_t kDevice = 4u << 20;
constexpr uint64_t kTail = 16 * 1024 + 512;

struct Target {
  TempDir dir{"boot-region"};
  std::string path = dir.file("disk");
  base::UniqueFd fd;
  Target() {
    write_file(path, random_bytes(kDevice, 7));  // an "old disk": nonzero everywhere
    fd = base::UniqueFd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  }
  Bytes bytes() const { return read_file(path); }
};

bool all(const Bytes& b, uint64_t from, uint64_t to, uint8_t v) {
  for (uint64_t i = from; i < to; ++i)
    if (b[i] != v) return false;
  return true;
}

}  // namespace

TEST(BootRegion, WipeZeroesTheFirstMiBAndTheBackupGptOnly) {
  Target t;
  const Bytes before = t.bytes();
  agent::BootRegion boot(mkproto::boot_layout(kDevice, 512));
  EXPECT_FALSE(boot.wiped());
  boot.wipe(t.fd.get(), t.path);
  EXPECT_TRUE(boot.wiped());
  const Bytes after = t.bytes();
  ASSERT_EQ(after.size(), kDevice);
  EXPECT_TRUE(all(after, 0, 1u << 20, 0));
  EXPECT_TRUE(all(after, kDevice - kTail, kDevice, 0));
  EXPECT_TRUE(std::equal(after.begin() + (1 << 20), after.end() - kTail, before.begin() + (1 << 20)));
}

TEST(BootRegion, HoldsBootBytesUntilCommitThenWritesThemWithinTheImage) {
  Target t;
  agent::BootRegion boot(mkproto::boot_layout(kDevice, 512));
  boot.wipe(t.fd.get(), t.path);
  const Bytes image = random_bytes(kDevice, 8);
  // A range across the head's end: only [0, 1 MiB) is held.
  boot.hold(4096, {image.data() + 4096, (2u << 20) - 4096});
  boot.hold(0, {image.data(), 4096});
  boot.hold_zeros(8192, 512);
  boot.hold(kDevice - kTail - 100, {image.data() + kDevice - kTail - 100, kTail + 100});
  EXPECT_EQ(boot.held_bytes(), (1u << 20) + kTail);
  EXPECT_EQ(boot.write_now(0, kDevice), std::make_pair(uint64_t{1} << 20, kDevice - kTail));
  EXPECT_TRUE(all(t.bytes(), 0, 1u << 20, 0)) << "held bytes reached the disk before commit";
  boot.commit(t.fd.get(), kDevice, t.path);
  EXPECT_TRUE(boot.committed());
  EXPECT_EQ(boot.held_bytes(), 0u);
  EXPECT_EQ(boot.write_now(0, kDevice), std::make_pair(uint64_t{0}, kDevice));
  Bytes want(image.begin(), image.begin() + (1 << 20));
  std::fill(want.begin() + 8192, want.begin() + 8192 + 512, 0);
  const Bytes disk = t.bytes();
  EXPECT_TRUE(std::equal(want.begin(), want.end(), disk.begin()));
  EXPECT_TRUE(std::equal(image.end() - kTail, image.end(), disk.end() - kTail));
}

TEST(BootRegion, CommitStopsAtTheImageEnd) {
  Target t;
  agent::BootRegion boot(mkproto::boot_layout(kDevice, 512));
  boot.wipe(t.fd.get(), t.path);
  const Bytes image = random_bytes(1000, 9);  // smaller than the head; the tail is not the image's
  boot.hold(0, image);
  boot.commit(t.fd.get(), image.size(), t.path);
  const Bytes disk = t.bytes();
  EXPECT_TRUE(std::equal(image.begin(), image.end(), disk.begin()));
  EXPECT_TRUE(all(disk, image.size(), 1u << 20, 0));
  EXPECT_TRUE(all(disk, kDevice - kTail, kDevice, 0));
}

TEST(BootRegion, RestartForgetsHeldBytesFromThere) {
  Target t;
  agent::BootRegion boot(mkproto::boot_layout(kDevice, 512));
  boot.wipe(t.fd.get(), t.path);
  const Bytes image = random_bytes(1u << 20, 10);
  boot.hold(0, image);
  boot.restart_at(4096);  // what follows is sent again; SKIP there means "as on disk": zeros
  boot.commit(t.fd.get(), kDevice, t.path);
  const Bytes disk = t.bytes();
  EXPECT_TRUE(std::equal(image.begin(), image.begin() + 4096, disk.begin()));
  EXPECT_TRUE(all(disk, 4096, 1u << 20, 0));
}

TEST(BootRegion, AFailedWipeNamesTheTargetAndStaysUnwiped) {
  TempDir dir("boot-region");
  const std::string path = dir.file("ro");
  write_file(path, random_bytes(kDevice, 11));
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  agent::BootRegion boot(mkproto::boot_layout(kDevice, 512));
  try {
    boot.wipe(fd.get(), path);
    FAIL() << "wiping through a read-only descriptor succeeded";
  } catch (const mkproto::ProtocolError& e) {
    EXPECT_EQ(e.code, mkproto::ErrorCode::kIo);
    EXPECT_NE(e.detail.find(path), std::string::npos) << e.detail;
    EXPECT_NE(e.detail.find("wiping"), std::string::npos) << e.detail;
  }
  EXPECT_FALSE(boot.wiped());
}

// An image whose boot bytes are an MBR and a loader at 32 KiB: the head
// holds 64 KiB, not the whole MiB; zeros past it hold nothing, and the
// commit leaves the wiped zeros behind the held bytes.
TEST(BootRegion, HoldsOnlyAsFarAsTheBootBytesReach) {
  Target t;
  agent::BootRegion boot(mkproto::boot_layout(kDevice, 512));
  boot.wipe(t.fd.get(), t.path);
  const Bytes image = random_bytes(64u << 10, 9);
  boot.hold(0, {image.data(), 512});
  boot.hold(32u << 10, {image.data() + (32u << 10), 4096});
  boot.hold_zeros(128u << 10, 512u << 10);           // past the held head: nothing to hold
  boot.hold_zeros(kDevice - kTail, kTail);           // the untouched tail: nothing either
  EXPECT_EQ(boot.held_bytes(), 64u << 10);
  Bytes out(8192, 0xee);
  boot.copy_held(60u << 10, out);  // the held part, then what the disk has
  EXPECT_TRUE(all(out, 0, 4096, 0));
  EXPECT_TRUE(all(out, 4096, 8192, 0xee));
  boot.commit(t.fd.get(), kDevice, t.path);
  const Bytes disk = t.bytes();
  EXPECT_TRUE(std::equal(image.begin(), image.begin() + 512, disk.begin()));
  EXPECT_TRUE(all(disk, 512, 32u << 10, 0));
  EXPECT_TRUE(std::equal(image.begin() + (32u << 10), image.begin() + (36u << 10), disk.begin() + (32u << 10)));
  EXPECT_TRUE(all(disk, 36u << 10, 1u << 20, 0));
  EXPECT_TRUE(all(disk, kDevice - kTail, kDevice, 0));
}
