// The writer routes the boot sectors' bytes to the BootRegion and writes
// everything else in place, whatever the frames' boundaries.
#include "target-agent/writer.h"

#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

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
