// Compressed images over http do not tell their size up front: the push
// announces an unknown size, reads the image from the server once, and
// tells the size at FINISH; the agent bounds the image by the target.
#include <sstream>

#include "testing/fault_proxy.h"
#include "testing/push_fixture.h"
#include "testing/source_images.h"

using namespace mktest;
using source::Compression;

namespace {

// Body bytes of each GET of `path`, in order (the server's log).
std::vector<uint64_t> gets(const std::string& log, const std::string& path) {
  std::vector<uint64_t> sent;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("GET " + path + " ", 0) != 0) continue;
    size_t at = line.find(" sent=");
    sent.push_back(at == std::string::npos ? 0 : std::stoull(line.substr(at + 6)));
  }
  return sent;
}

struct Served {
  std::vector<uint8_t> compressed;
  std::unique_ptr<mktest::HttpServer> server;
};

Served serve(const std::string& dir, const std::string& name, const std::vector<uint8_t>& image, Compression kind) {
  Served s;
  s.compressed = mktest::compress(image, kind);
  write_file(dir + "/" + name, s.compressed);
  s.server = std::make_unique<mktest::HttpServer>(dir);
  return s;
}

class PushUnknownSize : public PushTest {
 protected:
  void push_once(Compression kind, const std::string& name, size_t size) {
    if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed";
    auto image = make_sparse_image(size, 41);
    auto s = serve(dir_.path(), name, image, kind);
    // The target is larger than the image: what lies past the image's end
    // is not the image's business and stays as it was, except the backup
    // GPT at the target's end, wiped at OPEN (docs/protocol.md).
    std::vector<uint8_t> disk(image.size() + (1u << 20), 0x6b);
    write_file(path("disk"), disk);
    auto r = push::push_image(options(s.server->url(name), path("disk")));
    auto got = read_file(path("disk"));
    ASSERT_EQ(got.size(), disk.size());
    EXPECT_TRUE(std::equal(image.begin(), image.end(), got.begin()));
    const size_t tail = got.size() - (16u << 10) - 512;
    EXPECT_TRUE(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(std::max(image.size(), size_t{1} << 20)),
                            got.begin() + static_cast<std::ptrdiff_t>(tail), [](uint8_t b) { return b == 0x6b; }));
    EXPECT_TRUE(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(tail), got.end(), [](uint8_t b) { return b == 0; }));
    EXPECT_TRUE(r.verified) << r.verify_message;
    EXPECT_EQ(r.image_size, image.size());
    EXPECT_EQ(r.image_reads, 1);
    const std::vector<uint64_t> once = {static_cast<uint64_t>(s.compressed.size())};
    EXPECT_EQ(gets(s.server->log(), "/" + name), once) << s.server->log();
  }
};

}  // namespace

// Ends on a 4 KiB boundary: the reader must not look back for the last byte.
TEST_F(PushUnknownSize, HttpGzipIsReadOnce) { push_once(Compression::gzip, "img.gz", 8u << 20); }
TEST_F(PushUnknownSize, HttpXzIsReadOnce) { push_once(Compression::xz, "img.xz", (8u << 20) + 1234); }
TEST_F(PushUnknownSize, HttpZstdIsReadOnce) { push_once(Compression::zstd, "img.zst", (8u << 20) - 3 * 4096 + 17); }

// After a drop a compressed stream cannot seek: the resume reads it again
// from its start, through the resume point, to its end — one more GET. The
// interrupted GET read no further than the drop plus the read-ahead (16 MiB
// of image, the 8 MiB http ring, socket buffers), not the whole image.
TEST_F(PushUnknownSize, ResumeRereadsOnlyWhatItNeeds) {
  if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed";
  auto image = make_sparse_image(128u << 20, 42);
  auto s = serve(dir_.path(), "img.gz", image, Compression::gzip);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 0x77));
  FaultProxy proxy(agent_->address(), {Fault::drop(5u << 20)});
  auto o = options(s.server->url("img.gz"), path("disk"));
  o.agent.agent = proxy.address();
  auto r = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(r.reconnects, 1);
  EXPECT_EQ(r.image_reads, 2);
  auto sent = gets(s.server->log(), "/img.gz");
  ASSERT_EQ(sent.size(), 2u) << s.server->log();
  // (7/8: a sanitizer build on a loaded machine reads ahead further before
  // the drop is handled; 81 % was seen.)
  EXPECT_LT(sent[0], s.compressed.size() * 7 / 8) << s.server->log();
  EXPECT_EQ(sent[1], s.compressed.size()) << s.server->log();
}

// The size is not known before the end, so the target's size is the bound:
// the frame that would cross it is refused before any of it is written.
TEST_F(PushUnknownSize, LargerThanTheTargetIsRefusedAtTheEnd) {
  if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed";
  auto image = make_sparse_image(3u << 20, 43);
  auto s = serve(dir_.path(), "img.gz", image, Compression::gzip);
  std::vector<uint8_t> before((2u << 20) + 4096, 0x5a);
  write_file(path("disk"), before);
  try {
    push::push_image(options(s.server->url("img.gz"), path("disk")));
    FAIL() << "an image larger than the target was accepted";
  } catch (const mkproto::ProtocolError& e) {
    EXPECT_EQ(e.code, mkproto::ErrorCode::kImageTooLarge) << e.what();
    std::string m = e.what();
    EXPECT_NE(m.find("reaches past the end of " + path("disk") + " (2101248 bytes)"), std::string::npos) << m;
    EXPECT_NE(m.find("larger than the target"), std::string::npos) << m;
  }
  // Nothing past the end: a regular file would have grown.
  EXPECT_EQ(read_file(path("disk")).size(), before.size());
}

// Delta needs the target's hashes ahead of the stream, not the image's size:
// an http .gz of unknown size is still fetched once, its hashes asked for
// window by window (six 1 MiB windows here), the unchanged blocks kept.
TEST_F(PushUnknownSize, DeltaReadsTheImageOnce) {
  if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed";
  auto image = make_sparse_image((6u << 20) + 4096 + 77, 44);
  auto s = serve(dir_.path(), "img.gz", image, Compression::gzip);
  // The target held an older version: a few changed bytes in each window.
  auto disk = image;
  for (size_t at : {size_t{4096}, size_t{3u << 20}, size_t{5u << 20}, image.size() - 5}) disk[at] ^= 0x5a;
  disk.resize(image.size() + (3u << 20), 0x6b);
  write_file(path("disk"), disk);
  auto o = options(s.server->url("img.gz"), path("disk"));
  o.delta = true;
  o.delta_window = 1u << 20;
  auto r = push::push_image(o);
  auto got = read_file(path("disk"));
  ASSERT_EQ(got.size(), disk.size());
  EXPECT_TRUE(std::equal(image.begin(), image.end(), got.begin()));
  // Past the image: as it was, except the backup GPT wiped at OPEN.
  const size_t tail = got.size() - (16u << 10) - 512;
  EXPECT_TRUE(std::all_of(got.begin() + static_cast<std::ptrdiff_t>(image.size()),
                          got.begin() + static_cast<std::ptrdiff_t>(tail), [](uint8_t b) { return b == 0x6b; }));
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(r.image_size, image.size());
  EXPECT_EQ(r.image_reads, 1);
  EXPECT_GT(r.kept_bytes, image.size() / 2);
  EXPECT_LT(r.bytes_sent, image.size() / 8);
  const std::vector<uint64_t> once = {static_cast<uint64_t>(s.compressed.size())};
  EXPECT_EQ(gets(s.server->log(), "/img.gz"), once) << s.server->log();
}

// The hashes stop at the target's end: an image of unknown size that goes
// past it fails with the target named, and nothing past the end is written.
TEST_F(PushUnknownSize, DeltaLargerThanTheTargetIsRefused) {
  if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed";
  auto image = make_sparse_image(3u << 20, 45);
  auto s = serve(dir_.path(), "img.gz", image, Compression::gzip);
  std::vector<uint8_t> before((2u << 20) + 4096, 0x5a);
  write_file(path("disk"), before);
  auto o = options(s.server->url("img.gz"), path("disk"));
  o.delta = true;
  try {
    push::push_image(o);
    FAIL() << "an image larger than the target was accepted";
  } catch (const mkproto::ProtocolError& e) {
    EXPECT_EQ(e.code, mkproto::ErrorCode::kImageTooLarge) << e.what();
    EXPECT_NE(std::string(e.what()).find("larger than the target"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(path("disk")).size(), before.size());
}

// A drop while windows of hashes are outstanding: the new connection asks
// again for the hashes still missing, and the resumed push keeps the
// unchanged blocks and ends verified.
TEST_F(PushUnknownSize, DeltaResumesAfterADrop) {
  if (std::system("command -v python3 >/dev/null") != 0) GTEST_SKIP() << "python3 not installed";
  auto image = make_sparse_image(12u << 20, 46);
  auto s = serve(dir_.path(), "img.gz", image, Compression::gzip);
  auto disk = image;
  for (size_t at = 0; at < disk.size(); at += 300000) disk[at] ^= 0x33;  // changes all along
  write_file(path("disk"), disk);
  FaultProxy proxy(agent_->address(), {Fault::drop(64u << 10)});
  auto o = options(s.server->url("img.gz"), path("disk"));
  o.agent.agent = proxy.address();
  o.delta = true;
  o.delta_window = 1u << 20;
  auto r = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(r.reconnects, 1);
  EXPECT_GT(r.kept_bytes, image.size() / 2);
}
