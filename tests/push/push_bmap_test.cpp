// Pushes with bmaptool's own test image and maps through the in-process
// agent: a range that does not match its checksum fails the push naming the
// range, every time; a stream longer than ImageSize fails; a truncated .gz is
// reported as truncated, not sized by its trailer; --holes=skip writes the
// mapped zero blocks (on a file and on a loop device) as bmaptool does.
#include <gmock/gmock.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <utility>

#include "mkmaster/push/frame_sender.h"
#include "protocol/boot_layout.h"
#include "testing/bmaptool_data.h"
#include "testing/fault_proxy.h"
#include "testing/push_fixture.h"
#include "testing/source_images.h"

using namespace mktest;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

Bytes garbage(size_t n) {
  Bytes g(n);
  for (size_t i = 0; i < n; ++i) g[i] = static_cast<uint8_t>(0xA5 ^ (i * 131));
  return g;
}

bool all_zero(const Bytes& b, uint64_t begin, uint64_t end) {
  return std::all_of(b.begin() + static_cast<long>(begin), b.begin() + static_cast<long>(end),
                     [](uint8_t x) { return x == 0; });
}

std::string range_name(const source::BmapRange& r) { return std::to_string(r.first) + "-" + std::to_string(r.last); }

// A reader whose range check is slower than everything else: the mismatch
// of [begin, end) shows only once the push asks (check_so_far) or at the
// image's end. A reader opened again and seeked past the range never
// reports it, as the real one does not re-read a range behind the resume
// point. Once the push has been handed `beyond` bytes past the range,
// `passed()` runs (once) before the next extent; `asked` counts the
// reports made through check_so_far.
class LaggingCheck final : public source::ImageReader {
 public:
  LaggingCheck(std::unique_ptr<source::ImageReader> inner, source::RangeMismatch mismatch, uint64_t beyond,
               std::function<void()> passed, int* asked)
      : inner_(std::move(inner)),
        mismatch_(std::move(mismatch)),
        beyond_(beyond),
        passed_hook_(std::move(passed)),
        asked_(asked) {}
  bool next(source::Extent& out) override {
    if (passed_ && handed_ >= mismatch_.end + beyond_ && passed_hook_) std::exchange(passed_hook_, nullptr)();
    if (!inner_->next(out)) {
      if (passed_) throw mismatch_;
      return false;
    }
    handed_ = out.offset + out.length;
    passed_ = passed_ || (out.offset < mismatch_.end && handed_ >= mismatch_.end);
    return true;
  }
  void check_so_far() override {
    if (!passed_) return;
    ++*asked_;
    throw mismatch_;
  }
  void seek(uint64_t offset) override {
    inner_->seek(offset);
    passed_ = false;
  }
  std::optional<uint64_t> size() const override { return inner_->size(); }
  std::string describe() const override { return inner_->describe(); }

 private:
  std::unique_ptr<source::ImageReader> inner_;
  source::RangeMismatch mismatch_;
  uint64_t beyond_;
  std::function<void()> passed_hook_;
  int* asked_;
  bool passed_ = false;
  uint64_t handed_ = 0;
};

}  // namespace

class PushBmap : public PushTest {
 protected:
  // The push's error; "" when it reported success.
  std::string push_error(const push::PushOptions& o) {
    try {
      auto r = push::push_image(o);
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  }
  // A failed push leaves its session on the agent until it notices the
  // closed connection: each push writes a target of its own.
  push::PushOptions bmap_options(const std::string& image, const std::string& version,
                                 const std::string& disk = "disk") {
    auto o = options(image, path(disk));
    o.bmap = bmaptool_bmap(version);
    // The agent serves 8 connections at once, and those of the pushes that
    // failed just before may still be winding down: a refused connection
    // is retried. A range mismatch never is.
    o.retries = 5;
    return o;
  }
};

TEST_F(PushBmap, AFlippedByteInEachRangeFailsThePushNamingTheRange) {
  const Bytes& image = bmaptool_image();
  const source::Bmap map = bmaptool_map("2.0");
  for (size_t i = 0; i < map.ranges.size(); ++i) {
    const auto& r = map.ranges[i];
    SCOPED_TRACE("range " + range_name(r));
    Bytes bad = image;
    const uint64_t begin = map.range_begin(r), end = map.range_end(r);
    bad[begin + (end - begin) / 2] ^= 0x5a;
    write_file(path("flip.raw"), bad);
    const std::string disk = "disk-" + std::to_string(i);
    write_file(path(disk), garbage(image.size()));
    std::string e = push_error(bmap_options(path("flip.raw"), "2.0", disk));
    EXPECT_THAT(e, HasSubstr("range " + range_name(r) + " ("));
    EXPECT_THAT(e, HasSubstr("bytes " + std::to_string(begin) + "-" + std::to_string(end - 1)));
    // Either way the push says what of the range the target may hold.
    EXPECT_THAT(e, ::testing::AnyOf(HasSubstr("the target holds unverified data"), HasSubstr("nothing of that range")));
  }
}

// The case that passed 9 times in 10: the last range is checked only by the
// reader's final next(), after the last byte was sent.
TEST_F(PushBmap, AFlippedByteInTheLastRangeFailsTwentyTimesInTwenty) {
  const Bytes& image = bmaptool_image();
  const source::Bmap map = bmaptool_map("2.0");
  const auto& r = map.ranges.back();
  Bytes bad = image;
  bad[map.range_begin(r) + 1] ^= 1;
  write_file(path("flip.gz"), compress(bad, source::Compression::gzip));
  int failed = 0;
  for (int k = 0; k < 20; ++k) {
    const std::string disk = "disk-" + std::to_string(k);
    write_file(path(disk), garbage(image.size()));
    std::string e = push_error(bmap_options(path("flip.gz"), "2.0", disk));
    failed += e.find("range " + range_name(r) + " (") != std::string::npos;
    EXPECT_THAT(e, HasSubstr("range " + range_name(r) + " (")) << "run " << k;
    // Whether the range's last frame left before the check did is timing;
    // that the push says which is not.
    EXPECT_THAT(e, ::testing::AnyOf(HasSubstr("the target holds unverified data"), HasSubstr("nothing of that range")));
  }
  EXPECT_EQ(failed, 20);
  // The unflipped image passes with the same map: the failures are the flip's.
  write_file(path("good.gz"), compress(image, source::Compression::gzip));
  write_file(path("disk"), garbage(image.size()));
  EXPECT_EQ(push_error(bmap_options(path("good.gz"), "2.0")), "");
  EXPECT_EQ(read_file(path("disk")), image);
}

TEST_F(PushBmap, ACompressedImageLongerThanImageSizeFails) {
  Bytes longer = bmaptool_image();
  longer.resize(longer.size() + 8192, 0x11);
  for (auto kind : {source::Compression::gzip, source::Compression::xz, source::Compression::zstd}) {
    SCOPED_TRACE(source::compression_name(kind));
    write_file(path("longer"), compress(longer, kind, 1));
    for (int k = 0; k < 5; ++k) {
      const std::string disk = std::string("disk-") + source::compression_name(kind) + std::to_string(k);
      write_file(path(disk), garbage(longer.size()));
      EXPECT_THAT(push_error(bmap_options(path("longer"), "1.4", disk)), HasSubstr("ImageSize")) << "run " << k;
    }
  }
}

// A cut .gz ends in deflate bytes where ISIZE should be: a garbage size
// far larger than the target. The push must say truncated, not refuse the
// image as too large.
TEST_F(PushBmap, ATruncatedGzipSaysTruncatedNotTooLarge) {
  Bytes gz = compress(make_sparse_image(4 << 20, 41), source::Compression::gzip);
  size_t cut = gz.size() * 6 / 10;
  auto trailer = [&](size_t at) {
    return uint32_t{gz[at - 4]} | uint32_t{gz[at - 3]} << 8 | uint32_t{gz[at - 2]} << 16 | uint32_t{gz[at - 1]} << 24;
  };
  while (trailer(cut) < (64u << 20)) ++cut;  // a "size" the 8 MiB target cannot hold
  gz.resize(cut);
  write_file(path("cut.gz"), gz);
  write_file(path("disk"), garbage(8 << 20));
  auto o = options(path("cut.gz"), path("disk"));
  o.retries = 0;
  std::string e = push_error(o);
  EXPECT_THAT(e, HasSubstr(path("cut.gz")));
  EXPECT_THAT(e, HasSubstr("truncated"));
  EXPECT_THAT(e, Not(HasSubstr("too large")));
  EXPECT_THAT(e, Not(HasSubstr("ISIZE")));
}

namespace {

// What --holes=skip must leave: the mapped blocks as the image has them,
// zeros included; the unmapped ones as they were — except inside the boot
// sectors, which OPEN wiped (docs/protocol.md, "Boot sectors last"); all of
// test.image lies in the first MiB, so there its gaps read as zeros.
void expect_bmaptool_copy(const Bytes& disk, const Bytes& before_push, const Bytes& image, const source::Bmap& map) {
  ASSERT_GE(disk.size(), image.size());
  Bytes before = before_push;
  const auto boot = mkproto::boot_layout(disk.size(), 512);
  for (uint64_t i = 0; i < before.size(); ++i)
    if (boot.in_boot(i)) before[i] = 0;
  size_t mapped_zero_blocks = 0, unmapped_kept = 0;
  uint64_t at = 0;
  for (const auto& r : map.ranges) {
    const uint64_t b = map.range_begin(r), e = map.range_end(r);
    unmapped_kept += std::equal(disk.begin() + static_cast<long>(at), disk.begin() + static_cast<long>(b),
                                before.begin() + static_cast<long>(at));
    EXPECT_TRUE(std::equal(disk.begin() + static_cast<long>(b), disk.begin() + static_cast<long>(e),
                           image.begin() + static_cast<long>(b)))
        << "mapped range " << range_name(r) << " differs from the image";
    for (uint64_t blk = b; blk < e; blk += map.block_size)
      mapped_zero_blocks += all_zero(image, blk, std::min(e, blk + map.block_size));
    at = e;
  }
  EXPECT_TRUE(std::equal(disk.begin() + static_cast<long>(at), disk.begin() + static_cast<long>(image.size()),
                         before.begin() + static_cast<long>(at)))
      << "the unmapped tail was written";
  EXPECT_EQ(unmapped_kept, map.ranges.size()) << "an unmapped gap was written";
  EXPECT_GT(mapped_zero_blocks, 0u) << "the test image has no mapped zero block to prove anything with";
}

// test.image's mapped blocks all hold data: zero one block inside each of
// a few ranges (a file system's zeroed metadata block looks like this). The
// 1.2 map records no checksums, so it still describes the image.
Bytes with_mapped_zero_blocks(const source::Bmap& map) {
  Bytes image = bmaptool_image();
  for (size_t i = 0; i < map.ranges.size(); i += 7) {
    uint64_t b = map.range_begin(map.ranges[i]);
    std::fill(image.begin() + static_cast<long>(b),
              image.begin() + static_cast<long>(std::min(map.range_end(map.ranges[i]), b + map.block_size)), 0);
  }
  return image;
}

}  // namespace

TEST_F(PushBmap, HolesSkipWritesMappedZeroBlocksOnAFile) {
  const source::Bmap map = bmaptool_map("1.2");
  const Bytes image = with_mapped_zero_blocks(map);
  write_file(path("img.raw"), image);
  const Bytes before = garbage(image.size());
  write_file(path("disk"), before);
  auto o = bmap_options(path("img.raw"), "1.2");
  o.holes = mkproto::HolesMode::kSkip;
  auto r = push::push_image(o);
  EXPECT_TRUE(r.verified) << r.verify_message;
  expect_bmaptool_copy(read_file(path("disk")), before, image, map);
}

TEST_F(PushBmap, HolesSkipWritesMappedZeroBlocksOnALoopDevice) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to attach a loop device";
  if (::access("/dev/loop-control", W_OK) != 0) GTEST_SKIP() << "no /dev/loop-control: loop devices unavailable";
  if (std::system("command -v losetup >/dev/null") != 0) GTEST_SKIP() << "losetup not installed";
  const source::Bmap map = bmaptool_map("1.2");
  const Bytes image = with_mapped_zero_blocks(map);
  write_file(path("img.raw"), image);
  const Bytes before = garbage(1 << 20);  // sector-sized, larger than the image
  write_file(path("backing"), before);
  FILE* p = ::popen(("losetup --find --show " + path("backing")).c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[64] = {};
  bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  if (::pclose(p) != 0 || !got) GTEST_SKIP() << "losetup could not attach a loop device here";
  std::string dev = buf;
  dev.erase(dev.find_last_not_of('\n') + 1);
  auto o = bmap_options(path("img.raw"), "1.2");
  o.target = dev;
  o.holes = mkproto::HolesMode::kSkip;
  std::string error;
  push::PushResult r;
  try {
    r = push::push_image(o);
  } catch (const std::exception& e) {
    error = e.what();
  }
  std::system(("losetup -d " + dev).c_str());
  ASSERT_EQ(error, "");
  EXPECT_TRUE(r.verified) << r.verify_message;
  Bytes disk = read_file(path("backing"));
  expect_bmaptool_copy(disk, before, image, map);
  // Past the image: as it was, but for the boot sectors OPEN wiped (this
  // 1 MiB device is all boot sectors).
  const auto boot = mkproto::boot_layout(disk.size(), 512);
  for (uint64_t i = image.size(); i < disk.size(); ++i)
    if (disk[i] != (boot.in_boot(i) ? 0 : before[i])) {
      ADD_FAILURE() << "byte " << i << " past the image was written";
      break;
    }
}

// The same with a map `bmaptool create` writes (2.0, sha256 per range): a
// sparse file whose zero blocks were written explicitly has them allocated,
// hence mapped.
TEST_F(PushBmap, HolesSkipWritesMappedZeroBlocksOfABmaptoolCreateImage) {
  if (std::system("command -v bmaptool >/dev/null") != 0) GTEST_SKIP() << "bmaptool (bmap-tools) not installed";
  const size_t size = 2 << 20;
  Bytes image = make_sparse_image(size, 43);
  int fd = ::open(path("img.raw").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  size_t written_zero = 0;
  for (size_t i = 0; i < size; i += 4096) {
    bool zero = all_zero(image, i, i + 4096);
    // Data blocks, and every third zero block written as zeros.
    if (!zero || (i / 4096) % 3 == 0) {
      ASSERT_EQ(::pwrite(fd, image.data() + i, 4096, static_cast<off_t>(i)), 4096);
      written_zero += zero;
    }
  }
  ::close(fd);
  ASSERT_GT(written_zero, 0u);
  ASSERT_EQ(std::system(("bmaptool -q create -o " + path("img.bmap") + " " + path("img.raw")).c_str()), 0);
  const source::Bmap map = source::parse_bmap_file(path("img.bmap"));
  const Bytes before = garbage(size);
  write_file(path("disk"), before);
  auto o = options(path("img.raw"), path("disk"));
  o.bmap = path("img.bmap");
  o.holes = mkproto::HolesMode::kSkip;
  auto r = push::push_image(o);
  EXPECT_TRUE(r.verified) << r.verify_message;
  expect_bmaptool_copy(read_file(path("disk")), before, image, map);
}

// A connection that drops just after a bad range was sent must not lose the
// mismatch: the reader's checks run behind it, and the next connection
// resumes past that range without reading it again. How far behind the real
// checker runs is timing, so here it is as slow as it can be: the mismatch
// shows only when the push asks for it (check_so_far) or at the image's end.
TEST_F(PushBmap, AMismatchIsNotLostToADroppedConnection) {
  const Bytes& image = bmaptool_image();
  const source::Bmap map = bmaptool_map("2.0");
  int named = 0, drops = 0, asked = 0;
  for (int k = 0; k < 20; ++k) {
    const auto& r = map.ranges[static_cast<size_t>(k) * 2];
    const uint64_t begin = map.range_begin(r), end = map.range_end(r);
    Bytes bad = image;
    bad[begin] ^= 0x80;
    write_file(path("flip.raw"), bad);
    const std::string disk = "disk-" + std::to_string(k);
    write_file(path(disk), garbage(image.size()));
    auto o = bmap_options(path("flip.raw"), "2.0", disk);
    const std::string message = "range " + range_name(r) + " (bytes " + std::to_string(begin) + "-" +
                                std::to_string(end - 1) + ") does not match its checksum";
    // The cut comes once the host went well past the range and everything
    // it sent got through: the agent holds the range, and a resume would
    // start behind it.
    FaultProxy proxy(agent_->address(), {});
    auto cut = [&proxy, k] {
      proxy.cut_when_idle();
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      while (proxy.applied() == 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      EXPECT_EQ(proxy.applied(), 1) << "run " << k << ": the proxy did not cut the connection";
    };
    o.open_source = [&, path = o.image, bmap = o.bmap, message, begin, end] {
      source::OpenOptions so;
      so.bmap_path = bmap;
      so.max_extent = static_cast<uint32_t>(push::kFrameData);
      so.verify_bmap = false;  // the lagging check stands in for it
      return std::make_unique<LaggingCheck>(source::open_image(path, so), source::RangeMismatch(message, begin, end),
                                            (64u << 10) + 997u * static_cast<uint64_t>(k), cut, &asked);
    };
    o.agent.agent = proxy.address();
    o.retries = 3;
    o.verify_block = 16u << 10;  // a resume restarts near the cut, not at 0
    std::string e = push_error(o);
    named += e.find("range " + range_name(r) + " (") != std::string::npos;
    drops += proxy.applied();
    EXPECT_THAT(e, HasSubstr("range " + range_name(r) + " (")) << "run " << k;
  }
  EXPECT_EQ(named, 20);
  EXPECT_EQ(drops, 20);
  EXPECT_EQ(asked, 20) << "the push must ask the reader for the checks behind it when its connection drops";
}
