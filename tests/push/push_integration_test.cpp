// push_image against a native agent, writing files: raw and compressed
// sources, exact holes, --holes=skip, delta, zstd on the wire, verify.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include "testing/push_fixture.h"

extern char** environ;

using namespace mktest;
using mkproto::HolesMode;

namespace {
// What a delta reflash re-sends besides its changes: the boot sectors,
// wiped at OPEN (the first MiB and the backup GPT).
constexpr uint64_t kBootBytes = (1u << 20) + (16u << 10) + 512;
}  // namespace

namespace {
std::vector<uint8_t> garbage(size_t n) {
  std::vector<uint8_t> g(n);
  for (size_t i = 0; i < n; ++i) g[i] = static_cast<uint8_t>(0xA5 ^ (i * 131));
  return g;
}
}  // namespace

class Push : public PushTest {};

TEST_F(Push, RawImageLandsByteForByteWithHolesZeroed) {
  auto image = make_sparse_image(24 << 20, 1);
  write_file(path("img.raw"), image);
  write_file(path("disk"), garbage(image.size() + (1 << 20)));  // target pre-filled with garbage
  auto r = push::push_image(options(path("img.raw"), path("disk")));
  auto disk = read_file(path("disk"));
  ASSERT_EQ(disk.size(), image.size() + (1 << 20));
  EXPECT_TRUE(std::equal(image.begin(), image.end(), disk.begin())) << "target differs from the image";
  uint64_t zeros = 0;
  for (size_t i = 0; i + 4096 <= image.size(); i += 4096)
    zeros += std::all_of(image.begin() + i, image.begin() + i + 4096, [](uint8_t b) { return b == 0; }) ? 4096 : 0;
  EXPECT_EQ(r.image_size, image.size());
  EXPECT_EQ(r.hole_bytes, zeros);                       // holes were not sent ...
  EXPECT_EQ(r.bytes_sent, image.size() - zeros);        // ... only the data
  EXPECT_EQ(r.data_bytes + r.hole_bytes, image.size());
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(r.reconnects, 0);
  EXPECT_EQ(r.target, path("disk"));
}

// Zero runs found by zero detection are zeros the image holds, so they land
// as zeros under --holes=skip too (bmaptool writes every mapped block, and
// without a .bmap nothing is unmapped); sent as ZERO, not as data.
// Unmapped .bmap ranges are the don't-care ones (push_bmap_test.cpp).
TEST_F(Push, HolesSkipWithoutABmapStillZeroesZeroRuns) {
  auto image = make_sparse_image(8 << 20, 2);
  auto g = garbage(image.size());
  write_file(path("img.raw"), image);
  write_file(path("disk"), g);
  auto o = options(path("img.raw"), path("disk"));
  o.holes = HolesMode::kSkip;
  auto r = push::push_image(o);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_GT(r.hole_bytes, 0u);
  EXPECT_EQ(r.bytes_sent, image.size() - r.hole_bytes) << "zero runs must not be sent as data";
}

TEST_F(Push, CompressedSourcesAndZstdOnTheWire) {
  auto image = make_sparse_image(6 << 20, 3);
  write_file(path("img.raw"), image);
  ASSERT_EQ(std::system(("gzip -k -1 " + path("img.raw") + " && zstd -q -1 " + path("img.raw") + " -o " +
                         path("img.raw.zst")).c_str()), 0);
  for (std::string src : {"img.raw.gz", "img.raw.zst"}) {
    write_file(path("disk"), garbage(image.size()));
    auto o = options(path(src), path("disk"));
    o.compress = true;
    auto r = push::push_image(o);
    EXPECT_EQ(read_file(path("disk")), image) << src;
    EXPECT_TRUE(r.verified) << src << ": " << r.verify_message;
  }
}

TEST_F(Push, DeltaSendsOnlyTheChangedBlocks) {
  auto image = make_sparse_image(16 << 20, 4);
  write_file(path("img.raw"), image);
  write_file(path("disk"), garbage(image.size()));
  push::push_image(options(path("img.raw"), path("disk")));
  // Change a few blocks: three bytes in distinct 64 KiB blocks, and one
  // zero block becomes data.
  image[100] ^= 0xff;
  image[5 * (64 << 10) + 7] ^= 0xff;
  image[200 * (64 << 10) + 4000] ^= 0xff;
  size_t z = 0;
  while (z < image.size() && !std::all_of(image.begin() + z, image.begin() + z + 4096, [](uint8_t b) { return b == 0; }))
    z += 4096;
  ASSERT_LT(z, image.size());
  image[z + 1] = 42;
  write_file(path("img.raw"), image);
  auto o = options(path("img.raw"), path("disk"));
  o.delta = true;
  auto r = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
  // At most the data of the 4 changed 64 KiB blocks travelled.
  EXPECT_GT(r.bytes_sent, 0u);
  EXPECT_LE(r.bytes_sent, 4u * (64 << 10));
  EXPECT_GE(r.kept_bytes, image.size() - 4u * (64 << 10));
}

namespace {
}  // namespace

// A delta push reads back what it wrote; the blocks it kept were compared
// with the target by hash in the same push and are read back only with
// verify_kept (--verify-all). Both scopes catch a bad written block.
TEST_F(Push, DeltaVerifyReadsBackTheWrittenBlocks) {
  auto image = make_sparse_image(16 << 20, 4);
  write_file(path("img.raw"), image);
  const auto old = garbage(image.size());
  const size_t changed = 9 * (1 << 20) + 4096 * 3;  // a data byte in the 4th block of MiB 9
  const size_t unchanged = 2 * (1 << 20) + 100;     // in MiB 2, never changed
  for (bool verify_kept : {false, true}) {
    for (std::string corrupt : {"none", "written", "kept"}) {
      SCOPED_TRACE(std::string(verify_kept ? "verify_kept, " : "") + "corrupt " + corrupt);
      write_file(path("disk"), old);
      push::push_image(options(path("img.raw"), path("disk")));  // the disk now holds the image
      auto next = image;
      next[changed] ^= 0x55;
      write_file(path("img2.raw"), next);
      auto o = options(path("img2.raw"), path("disk"));
      o.delta = true;
      o.verify_kept = verify_kept;
      o.repair_attempts = 0;  // what verify catches, not what repair fixes (push_repair_test.cpp)
      o.verify_overlap = mkproto::VerifyOverlap::kAfterFinish;  // the disk changes between FINISHED and VERIFY
      o.on_progress = [&](const push::Progress& p) {
        if (p.kind != push::Progress::Kind::kVerify || corrupt == "none") return;
        flip_byte(path("disk"), corrupt == "written" ? changed : unchanged);
      };
      bool caught = false;
      try {
        auto r = push::push_image(o);
        EXPECT_TRUE(r.verified) << r.verify_message;
        // The one changed 4 KiB block, and the boot sectors: OPEN wiped them,
        // so they no longer match (docs/protocol.md, "Boot sectors last").
        EXPECT_GE(r.bytes_sent, 4096u);
        EXPECT_LE(r.bytes_sent, 4096u + kBootBytes);
        if (corrupt == "none") {
          EXPECT_EQ(read_file(path("disk")), next);
        }
        if (verify_kept) {
          EXPECT_GT(r.verify_bytes_read, image.size() / 4) << r.verify_message;
        } else {  // only the written block is read back
          EXPECT_LE(r.verify_bytes_read, 4096u + kBootBytes) << r.verify_message;
          EXPECT_NE(r.verify_message.find("checked by their delta hash"), std::string::npos) << r.verify_message;
        }
      } catch (const mkproto::ProtocolError& e) {
        ASSERT_EQ(e.code, mkproto::ErrorCode::kVerifyMismatch) << e.what();
        caught = true;
        const char* want = corrupt == "written" ? "[9437184, 10485760)" : "[2097152, 3145728)";
        EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      }
      bool should_catch = corrupt == "written" || (corrupt == "kept" && verify_kept);
      EXPECT_EQ(caught, should_catch);
    }
  }
}

TEST_F(Push, VerifyCatchesATargetCorruptedBehindTheAgentsBack) {
  auto image = make_sparse_image(8 << 20, 5);
  write_file(path("img.raw"), image);
  write_file(path("disk"), garbage(image.size()));
  auto o = options(path("img.raw"), path("disk"));
  o.repair_attempts = 0;  // the repair of this is in push_repair_test.cpp
  const uint64_t bad = 3 * (1 << 20) + 12345;
  o.verify_overlap = mkproto::VerifyOverlap::kAfterFinish;  // the disk changes between FINISHED and VERIFY
  o.on_progress = [&](const push::Progress& p) {
    if (p.kind != push::Progress::Kind::kVerify) return;
    // After FINISHED, before the read-back: flip a byte on the "disk".
    int fd = ::open(path("disk").c_str(), O_RDWR);
    uint8_t b = 0;
    ASSERT_EQ(::pread(fd, &b, 1, bad), 1);
    b ^= 0x20;
    ASSERT_EQ(::pwrite(fd, &b, 1, bad), 1);
    ::close(fd);
  };
  try {
    push::push_image(o);
    FAIL() << "verify did not notice the corruption";
  } catch (const mkproto::ProtocolError& e) {
    EXPECT_EQ(e.code, mkproto::ErrorCode::kVerifyMismatch);
    EXPECT_NE(std::string(e.what()).find("first bad range [3145728, 4194304)"), std::string::npos) << e.what();
  }
}

TEST_F(Push, BmapUnmappedRangesAreNotSent) {
  if (std::system("command -v bmaptool >/dev/null") != 0) GTEST_SKIP() << "bmaptool (bmap-tools) not installed";
  // A sparse file: bmaptool maps only its allocated blocks.
  auto image = make_sparse_image(4 << 20, 6);
  write_file(path("disk"), garbage(image.size()));
  int fd = ::open(path("img.raw").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(image.size())), 0);
  for (size_t i = 0; i < image.size(); i += 4096) {
    if (!std::all_of(image.begin() + i, image.begin() + i + 4096, [](uint8_t b) { return b == 0; })) {
      ASSERT_EQ(::pwrite(fd, image.data() + i, 4096, static_cast<off_t>(i)), 4096);
    }
  }
  ::close(fd);
  ASSERT_EQ(std::system(("bmaptool -q create -o " + path("img.bmap") + " " + path("img.raw")).c_str()), 0);
  auto o = options(path("img.raw"), path("disk"));
  o.bmap = path("img.bmap");
  auto r = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_LT(r.bytes_sent, image.size());
}

// An http source, served by a local python3 http.server.
TEST_F(Push, HttpSourceStreams) {
  if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed (local HTTP server)";
  auto image = make_sparse_image(6 << 20, 13);
  write_file(path("img.raw"), image);
  write_file(path("disk"), garbage(image.size()));
  int probe = mkproto::tcp_listen("127.0.0.1:0");
  std::string addr = mkproto::local_address(probe);
  ::close(probe);
  std::string port = addr.substr(addr.rfind(':') + 1);
  std::string dir = dir_.path();
  const char* argv[] = {"python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", dir.c_str(), port.c_str(),
                        nullptr};
  pid_t pid = -1;
  ASSERT_EQ(::posix_spawnp(&pid, "python3", nullptr, nullptr, const_cast<char* const*>(argv), environ), 0);
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    try {
      ::close(mkproto::tcp_connect(addr, std::chrono::milliseconds(100)));
      up = true;
    } catch (const std::exception&) {
      ::usleep(50000);
    }
  }
  push::PushResult r;
  if (up) r = push::push_image(options("http://" + addr + "/img.raw", path("disk")));
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  ASSERT_TRUE(up) << "python3 http.server did not start on " << addr;
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
}
