// The agent writes what it is sent, exactly: raw data, zeroed holes,
// don't-care holes, zstd frames; resume after a drop; delta hashes; verify
// digests that catch corruption behind the agent's back.
#include <fcntl.h>
#include <unistd.h>
#include <zstd.h>

#include "protocol/block_digest.h"
#include "protocol/boot_layout.h"
#include "protocol/session_keys.h"
#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

namespace {

constexpr uint32_t kVerifyBlock = 64 << 10;

// Runs VERIFY and returns the agent's per-block digests.
std::vector<Digest128> verify(Channel& ch, VerifyEnd* end = nullptr) {
  ch.send(encode(Verify{kVerifyBlock}));
  std::vector<Digest128> out;
  for (;;) {
    Frame f = ch.recv();
    if (f.type == FrameType::kAck) continue;
    if (f.type == FrameType::kVerifyEnd) {
      auto e = decode<VerifyEnd>(f);
      if (end) *end = e;
      return out;
    }
    auto d = decode<Digests>(f);
    EXPECT_EQ(f.offset, uint64_t{kVerifyBlock} * out.size());
    out.insert(out.end(), d.digests.begin(), d.digests.end());
  }
}

uint64_t finish(Channel& ch, uint64_t size) {
  ch.send(encode(Finish{size}));
  for (;;) {
    Frame f = ch.recv();
    if (f.type != FrameType::kAck) return decode<Finished>(f).watermark;
  }
}

}  // namespace

class AgentWrite : public AgentTest {
 protected:
  // Delta hashes are keyed with the secret and the session (open()'s default id).
  DeltaKey delta_key() const { return derive_delta_key(key_, SessionId{1}); }
};

TEST_F(AgentWrite, RawImageLandsByteForByteAndVerifies) {
  const size_t size = 3 * (1 << 20) + 12345;  // not a multiple of anything
  auto image = random_bytes(size, 1);
  write_file(path("disk"), random_bytes(size + 8192, 2));  // garbage, larger than the image
  auto ch = connect();
  auto opened = open(*ch, path("disk"), size);
  EXPECT_EQ(opened.watermark, 0u);
  EXPECT_FALSE(opened.resumed);
  EXPECT_EQ(opened.target.kind, TargetKind::kRegularFile);
  EXPECT_EQ(opened.target.size, size + 8192);
  send_data(*ch, 0, image);
  EXPECT_EQ(finish(*ch, size), size);
  auto disk = read_file(path("disk"));
  ASSERT_EQ(disk.size(), size + 8192);
  EXPECT_TRUE(std::equal(image.begin(), image.end(), disk.begin()));
  BlockDigester expect(size, kVerifyBlock);
  expect.data(0, image);
  VerifyEnd end;
  EXPECT_EQ(verify(*ch, &end), expect.digests());
  EXPECT_EQ(end.overall, expect.overall());
  EXPECT_EQ(end.bytes_read, size);
}

// Past the boot sectors, so that don't-care holes can show the target's
// old bytes (in the boot region they read as OPEN's wipe left them).
TEST_F(AgentWrite, HolesAreZeroedExactlyOrLeftAloneWhenDontCare) {
  const uint64_t B = kBootHeadBytes;
  const size_t size = 2 << 20;
  auto garbage = random_bytes(size + (64 << 10), 3);  // the tail (backup GPT) lies past the image
  auto boot = random_bytes(B, 2);
  auto data = random_bytes(100000, 4);
  for (HolesMode mode : {HolesMode::kZero, HolesMode::kSkip}) {
    write_file(path("disk"), garbage);
    auto ch = connect();
    open(*ch, path("disk"), size, mode, SessionId{static_cast<uint8_t>(10 + static_cast<int>(mode))});
    // boot [0, B), then data [+0, +100000), hole [+100000, +600001), data [+600001, +700001), hole to the end
    send_data(*ch, 0, boot);
    send_data(*ch, B, data);
    auto hole = [&](uint64_t off, uint64_t len) {
      ch->send(mode == HolesMode::kZero ? encode(Zero{off, len}) : encode(Skip{off, len, SkipReason::kDontCare}));
    };
    hole(B + 100000, 500001);
    send_data(*ch, B + 600001, data);
    hole(B + 700001, size - B - 700001);
    EXPECT_EQ(finish(*ch, size), size);
    auto disk = read_file(path("disk"));
    ASSERT_EQ(disk.size(), garbage.size());
    disk.resize(size);
    std::vector<uint8_t> expect = mode == HolesMode::kZero ? std::vector<uint8_t>(size, 0)
                                                           : std::vector<uint8_t>(garbage.begin(), garbage.begin() + size);
    std::copy(boot.begin(), boot.end(), expect.begin());
    std::copy(data.begin(), data.end(), expect.begin() + B);
    std::copy(data.begin(), data.end(), expect.begin() + B + 600001);
    EXPECT_TRUE(disk == expect) << "holes mode " << static_cast<int>(mode);
    // Verify agrees with the host's view (don't-care ranges left out).
    BlockDigester d(size, kVerifyBlock);
    d.data(0, boot);
    d.data(B, data);
    mode == HolesMode::kZero ? d.zeros(B + 100000, 500001) : d.dont_care(B + 100000, 500001);
    d.data(B + 600001, data);
    mode == HolesMode::kZero ? d.zeros(B + 700001, size - B - 700001) : d.dont_care(B + 700001, size - B - 700001);
    EXPECT_EQ(verify(*ch), d.digests());
    bye(*ch);  // the next mode opens a new session on the same target
  }
}

TEST_F(AgentWrite, ZstdFramesAreDecompressed) {
  std::vector<uint8_t> image(2 << 20);
  for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<uint8_t>((i / 100) % 7);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 0xee));
  auto ch = connect();
  open(*ch, path("disk"), image.size());
  size_t sent_bytes = 0;
  for (size_t at = 0; at < image.size(); at += 1 << 20) {
    std::vector<uint8_t> z(ZSTD_compressBound(1 << 20));
    size_t n = ZSTD_compress(z.data(), z.size(), image.data() + at, 1 << 20, 1);
    ASSERT_FALSE(ZSTD_isError(n));
    ch->send_raw(FrameType::kData, kFlagZstd, at, {z.data(), n});
    sent_bytes += n;
  }
  EXPECT_LT(sent_bytes, image.size() / 10);
  EXPECT_EQ(finish(*ch, image.size()), image.size());
  EXPECT_EQ(read_file(path("disk")), image);
}

TEST_F(AgentWrite, ResumesFromTheWatermarkAfterADroppedConnection) {
  const size_t size = 4 << 20;
  auto image = random_bytes(size, 5);
  write_file(path("disk"), std::vector<uint8_t>(size, 0));
  const SessionId id{42};
  {
    auto ch = connect();
    open(*ch, path("disk"), size, HolesMode::kZero, id);
    send_data(*ch, 0, std::span(image).first(1536 << 10));
    // Dropped without FINISH or BYE.
  }
  auto ch = connect();
  auto opened = open(*ch, path("disk"), size, HolesMode::kZero, id);
  EXPECT_TRUE(opened.resumed);
  // Everything received before the drop was applied and synced.
  EXPECT_EQ(opened.watermark, 1536u << 10);
  // Starting past the watermark would leave a gap: refused.
  {
    auto ch2 = connect();
    auto op2 = open(*ch2, path("disk"), size, HolesMode::kZero, id);  // takes the session over
    EXPECT_EQ(op2.watermark, 1536u << 10);
    ch2->send_raw(FrameType::kData, 0, (1536 << 10) + 4096, std::span(image).subspan(0, 4096));
    expect_error(*ch2, ErrorCode::kOutOfOrder);
  }
  auto ch3 = connect();
  auto op3 = open(*ch3, path("disk"), size, HolesMode::kZero, id);
  EXPECT_EQ(op3.watermark, 1536u << 10);
  // Restart one block below the watermark (as the host does), to the end.
  uint64_t from = op3.watermark - 65536;
  send_data(*ch3, from, std::span(image).subspan(from));
  EXPECT_EQ(finish(*ch3, size), size);
  EXPECT_EQ(read_file(path("disk")), image);
}

TEST_F(AgentWrite, SyncAcknowledgesTheDurableWatermark) {
  auto image = random_bytes(300000, 6);
  write_file(path("disk"), std::vector<uint8_t>(image.size()));
  auto ch = connect();
  open(*ch, path("disk"), image.size());
  send_data(*ch, 0, std::span(image).first(200000));
  ch->send(encode(Sync{}));
  EXPECT_EQ(decode<Ack>(ch->recv()).durable, 200000u);
}

TEST_F(AgentWrite, HashesDescribeTheTargetBlocks) {
  auto disk = random_bytes(5 * 65536 + 100, 7);
  write_file(path("disk"), disk);
  auto ch = connect();
  open(*ch, path("disk"), disk.size());
  disk = read_file(path("disk"));  // as OPEN left it: boot sectors wiped
  ch->send(encode(HashRequest{65536, disk.size() - 65536, 65536}));
  std::vector<uint64_t> got;
  for (;;) {
    Frame f = ch->recv();
    if (f.type == FrameType::kHashesEnd) break;
    auto h = decode<Hashes>(f);
    EXPECT_EQ(f.offset, 65536 + 65536 * got.size());
    got.insert(got.end(), h.hashes.begin(), h.hashes.end());
  }
  ASSERT_EQ(got.size(), 5u);  // 4 whole blocks and 100 bytes
  for (size_t i = 0; i < got.size(); ++i) {
    size_t off = 65536 * (i + 1), n = std::min<size_t>(65536, disk.size() - off);
    EXPECT_EQ(got[i], delta_hash(delta_key(), disk.data() + off, n)) << i;
  }
}

// The agent answers HASH_REQUEST in the background: placement frames sent
// right behind the request are received, written and acknowledged while the
// HASHES are still coming, and the hashes describe the target as it was.
TEST_F(AgentWrite, HashesStreamWhileTheImageIsReceived) {
  const uint64_t size = 32u << 20;
  auto disk = random_bytes(size, 21);
  write_file(path("disk"), disk);
  auto ch = connect();
  open(*ch, path("disk"), size);
  disk = read_file(path("disk"));  // as OPEN left it: boot sectors wiped
  const uint32_t block = 4096;
  const uint64_t from = 4u << 20;  // hashed: [4 MiB, 32 MiB); written: [0, 4 MiB)
  ch->send(encode(HashRequest{from, size - from, block}));
  auto image = random_bytes(from, 22);
  send_data(*ch, 0, image);
  ch->send(encode(Sync{}));
  std::vector<uint64_t> got;
  bool ended = false, acked = false;
  size_t hashes_after_ack = 0;
  while (!ended || !acked) {
    Frame f = ch->recv();
    if (f.type == FrameType::kAck) {
      if (decode<Ack>(f).durable == from) acked = true;
    } else if (f.type == FrameType::kHashesEnd) {
      ended = true;
    } else {
      auto h = decode<Hashes>(f);
      ASSERT_EQ(f.offset, from + uint64_t{block} * got.size());
      got.insert(got.end(), h.hashes.begin(), h.hashes.end());
      if (acked) hashes_after_ack += h.hashes.size();
    }
  }
  ASSERT_EQ(got.size(), (size - from) / block);
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], delta_hash(delta_key(), disk.data() + from + uint64_t{block} * i, block)) << "block " << i;
  auto now = read_file(path("disk"));  // the boot sectors [0, 1 MiB) are held until FINISH
  EXPECT_TRUE(std::equal(image.begin() + kBootHeadBytes, image.end(), now.begin() + kBootHeadBytes));
  // Not asserted (timing): how the two interleaved.
  RecordProperty("hashes_after_ack", static_cast<int>(hashes_after_ack));
}

// A sparse target: holes are hashed as zeros without being read, data read
// in large chunks; every hash must still be the hash of the target's bytes,
// including blocks that are part hole, part data, and a short hole tail.
TEST_F(AgentWrite, HashesOfASparseTargetMatchItsBytes) {
  const uint64_t size = (24u << 20) + 300;
  const uint64_t data_at = 3 * 4096 + 100, data_len = (10u << 20) + 1000;
  const uint64_t data2_at = 20u << 20;
  {
    int fd = ::open(path("disk").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    auto a = random_bytes(data_len, 11), b = random_bytes(5000, 12);
    ASSERT_EQ(::pwrite(fd, a.data(), a.size(), static_cast<off_t>(data_at)), static_cast<ssize_t>(a.size()));
    ASSERT_EQ(::pwrite(fd, b.data(), b.size(), static_cast<off_t>(data2_at)), static_cast<ssize_t>(b.size()));
    ::close(fd);
  }
  auto ch = connect();
  open(*ch, path("disk"), size);
  auto disk = read_file(path("disk"));  // as OPEN left it: boot sectors wiped
  ASSERT_EQ(disk.size(), size);
  const uint32_t block = 4096;
  const uint64_t from = 4096;
  ch->send(encode(HashRequest{from, size - from, block}));
  std::vector<uint64_t> got;
  for (;;) {
    Frame f = ch->recv();
    if (f.type == FrameType::kHashesEnd) break;
    auto h = decode<Hashes>(f);
    EXPECT_EQ(f.offset, from + uint64_t{block} * got.size());
    got.insert(got.end(), h.hashes.begin(), h.hashes.end());
  }
  ASSERT_EQ(got.size(), (size - from + block - 1) / block);
  for (size_t i = 0; i < got.size(); ++i) {
    size_t off = static_cast<size_t>(from + uint64_t{block} * i), n = std::min<size_t>(block, disk.size() - off);
    ASSERT_EQ(got[i], delta_hash(delta_key(), disk.data() + off, n)) << "block at " << off;
  }
}

TEST_F(AgentWrite, VerifyCatchesCorruptionBehindTheAgentsBack) {
  const size_t size = 1 << 20;
  auto image = random_bytes(size, 8);
  write_file(path("disk"), std::vector<uint8_t>(size));
  auto ch = connect();
  open(*ch, path("disk"), size);
  send_data(*ch, 0, image);
  finish(*ch, size);
  int fd = ::open(path("disk").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  uint8_t bad = static_cast<uint8_t>(image[700000] ^ 0x40);
  ASSERT_EQ(::pwrite(fd, &bad, 1, 700000), 1);
  ::close(fd);
  BlockDigester expect(size, kVerifyBlock);
  expect.data(0, image);
  auto got = verify(*ch);
  ASSERT_EQ(got.size(), expect.digests().size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i] == expect.digests()[i], i != 700000 / kVerifyBlock) << i;
}

// Verify on a sparse file target does not read chunks lying in a hole (they
// are zeros); a byte written into such a hole behind the agent's back makes
// that range data again and must be caught.
TEST_F(AgentWrite, VerifyOfASparseTargetSkipsHolesButCatchesBytesWrittenIntoThem) {
  const size_t size = 8 << 20;
  {
    int fd = ::open(path("disk").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    ::close(fd);
  }
  auto data = random_bytes(100000, 21);
  auto ch = connect();
  open(*ch, path("disk"), size);
  send_data(*ch, 0, data);
  ch->send(encode(Zero{100000, size - 100000}));
  finish(*ch, size);
  BlockDigester expect(size, kVerifyBlock);
  expect.data(0, data);
  expect.zeros(100000, size - 100000);
  EXPECT_EQ(verify(*ch), expect.digests());
  const off_t bad_at = 5 << 20;
  int fd = ::open(path("disk").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  uint8_t bad = 0x55;
  ASSERT_EQ(::pwrite(fd, &bad, 1, bad_at), 1);
  ::fsync(fd);
  ::close(fd);
  auto got = verify(*ch);
  ASSERT_EQ(got.size(), expect.digests().size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i] == expect.digests()[i], i != static_cast<size_t>(bad_at) / kVerifyBlock) << i;
}

// The real target kind: a block device (a loop device over a garbage file).
// Holes go through BLKZEROOUT (ragged edges written), data through pwritev;
// the backing file must equal the image afterwards.
TEST_F(AgentWrite, BlockDeviceHolesAndData) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to attach a loop device";
  if (::access("/dev/loop-control", W_OK) != 0) GTEST_SKIP() << "no /dev/loop-control: loop devices unavailable";
  if (std::system("command -v losetup >/dev/null") != 0) GTEST_SKIP() << "losetup not installed";
  const size_t size = 4 << 20;
  write_file(path("backing"), random_bytes(size, 31));
  FILE* p = ::popen(("losetup --find --show " + path("backing")).c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[64] = {};
  bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  if (::pclose(p) != 0 || !got) GTEST_SKIP() << "losetup could not attach a loop device here";
  std::string dev = buf;
  dev.erase(dev.find_last_not_of('\n') + 1);
  start(/*allow_file=*/false);  // block devices need no --allow-file
  auto data = random_bytes(300000, 32);
  std::vector<uint8_t> expect(size, 0);
  std::copy(data.begin(), data.end(), expect.begin() + 1000);
  {
    auto ch = connect();
    ch->send(encode(TargetQuery{dev}));
    auto info = decode<TargetInfo>(ch->recv());
    EXPECT_EQ(info.kind, TargetKind::kBlockDevice);
    EXPECT_EQ(info.size, size);
    EXPECT_EQ(info.sector_size, 512u);
    EXPECT_FALSE(info.mounted);
    open(*ch, dev, size);
    ch->send(encode(Zero{0, 1000}));  // unaligned: written, not BLKZEROOUT
    send_data(*ch, 1000, data);
    ch->send(encode(Zero{301000, size - 301000}));  // ragged head, aligned middle
    EXPECT_EQ(finish(*ch, size), size);
    BlockDigester d(size, kVerifyBlock);
    d.data(0, expect);
    EXPECT_EQ(verify(*ch), d.digests());
  }
  std::system(("losetup -d " + dev).c_str());
  EXPECT_TRUE(read_file(path("backing")) == expect);
}
