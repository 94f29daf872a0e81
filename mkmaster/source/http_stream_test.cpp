// The http(s) source against a local Range-capable server with faults.
#include "mkmaster/source/http_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mkmaster/source/image_reader.h"
#include "testing/source_images.h"
#include "testing/temp_dir.h"

namespace source {
namespace {

using mktest::Bytes;
using ::testing::HasSubstr;

constexpr uint32_t kBlock = 4096;

struct HttpSource : ::testing::Test {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(6 * 1024 * 1024 + 777, kBlock, 0.4, 21);
  std::unique_ptr<mktest::HttpServer> server;
  void SetUp() override {
    mktest::write_file(dir.file("img.raw"), img);
    mktest::write_file(dir.file("img.raw.gz"), mktest::compress(img, Compression::gzip));
    mktest::write_file(dir.file("img.xz"), mktest::compress(img, Compression::xz));
    server = std::make_unique<mktest::HttpServer>(dir.path());
  }
  std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const SourceError& e) {
      return e.what();
    }
    return "(no error)";
  }
  int count(const std::string& needle) {
    std::string log = server->log();
    int n = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  }
};

TEST_F(HttpSource, RawAndCompressedRoundTrip) {
  auto raw = open_image(server->url("img.raw"), {});
  EXPECT_EQ(raw->size(), img.size());  // Content-Length
  EXPECT_EQ(mktest::collect(*raw).image, img);
  for (const char* name : {"img.raw.gz", "img.xz"}) {
    auto r = open_image(server->url(name), {});
    EXPECT_EQ(r->size(), std::nullopt) << "Content-Length is the compressed size";
    EXPECT_THAT(r->describe(), HasSubstr(server->url(name)));
    EXPECT_EQ(mktest::collect(*r).image, img) << name;
  }
}

// A compressed image over http tells its size only by ending. Ending on a
// zero-block boundary is the case to watch: checking the last byte again
// would seek back, which a decompressor does by starting over — a second
// download.
TEST_F(HttpSource, CompressedImageOfUnknownSizeIsDownloadedOnce) {
  Bytes even = mktest::make_image(6 * 1024 * 1024, kBlock, 0.4, 22);
  for (auto kind : {Compression::gzip, Compression::xz, Compression::zstd}) {
    std::string name = std::string("even.") + compression_name(kind);
    Bytes packed = mktest::compress(even, kind);
    mktest::write_file(dir.file(name), packed);
    auto r = open_image(server->url(name), {});
    EXPECT_EQ(mktest::collect(*r).image, even) << name;
    r.reset();
    EXPECT_EQ(count("GET /" + name + " "), 1) << server->log();
    EXPECT_EQ(server->bytes_sent("/" + name), packed.size()) << name;
  }
}

TEST_F(HttpSource, SeekUsesARangeRequest) {
  // Further than the ring buffer holds: a new request from the offset.
  Bytes big = mktest::make_image(24 * 1024 * 1024, kBlock, 0.4, 23);
  mktest::write_file(dir.file("big.raw"), big);
  OpenOptions opt;
  opt.prefetch_bytes = 0;  // no read-ahead: the seek is the only reason for a request
  auto r = open_image(server->url("big.raw"), opt);
  const uint64_t at = 20 * 1024 * 1024 + 3;
  r->seek(at);
  auto c = mktest::collect(*r);
  EXPECT_TRUE(std::equal(big.begin() + at, big.end(), c.image.begin() + at));
  EXPECT_EQ(count("GET /big.raw bytes=" + std::to_string(at) + "-"), 1) << server->log();
}

TEST_F(HttpSource, ResumesACutBodyWithRange) {
  HttpStream s(server->url("img.raw?cut_first=1000000"), {});
  Bytes got(img.size() + 1);
  size_t n = read_full(s, got.data(), got.size());
  ASSERT_EQ(n, img.size());
  got.resize(n);
  EXPECT_EQ(got, img);
  EXPECT_EQ(s.requests(), 2);
  EXPECT_EQ(count("GET /img.raw bytes=1000000-"), 1) << server->log();
}

TEST_F(HttpSource, ResumeWorksWhenTheServerIgnoresRange) {
  HttpStream s(server->url("img.raw?cut_first=300000&norange=1"), {});
  Bytes got(img.size());
  ASSERT_EQ(read_full(s, got.data(), got.size()), img.size());
  EXPECT_EQ(got, img);
  EXPECT_EQ(s.requests(), 2);
}

TEST_F(HttpSource, AServerThatAlwaysCutsShortFails) {
  HttpOptions opt;
  opt.retries = 2;
  HttpStream s(server->url("img.raw?cut=100000"), opt);
  Bytes got(img.size());
  std::string err = error_of([&] { read_full(s, got.data(), got.size()); });
  EXPECT_THAT(err, HasSubstr("the server cut the body short"));
  EXPECT_THAT(err, HasSubstr("gave up after 2 resumes"));
  EXPECT_THAT(err, HasSubstr("(at offset 300000)"));
  // Through open_image too, on a compressed body.
  OpenOptions o;
  o.http_retries = 0;
  EXPECT_THAT(error_of([&] { mktest::collect(*open_image(server->url("img.xz?cut=50000"), o)); }),
              HasSubstr("cut the body short"));
}

TEST_F(HttpSource, BadStatusAndConnectionErrors) {
  EXPECT_THAT(error_of([&] { open_image(server->url("missing.img"), {}); }),
              HasSubstr(server->url("missing.img") + ": HTTP status 404 (expected 200 or 206)"));
  EXPECT_THAT(error_of([&] { open_image(server->url("img.raw?status=500"), {}); }),
              HasSubstr("HTTP status 500"));
  EXPECT_THAT(error_of([&] { open_image(server->url("img.raw?status=204"), {}); }),
              HasSubstr("HTTP status 204 (expected 200 or 206)"));
  // A port nobody listens on (the server's own, after it is gone).
  std::string url = server->url("img.raw");
  server.reset();
  EXPECT_THAT(error_of([&] { open_image(url, {}); }), HasSubstr("Couldn't connect to server"));
  EXPECT_THAT(error_of([&] { open_image("http://[::1", {}); }), HasSubstr("http://[::1"));
}

TEST_F(HttpSource, BmapOverHttpSkipsUnmappedWithRanges) {
  // Map only the first and last MiB of 40 MiB: the middle (more than the
  // ring buffer holds) is never downloaded.
  Bytes big = mktest::make_image(40 * 1024 * 1024, kBlock, 0.4, 22);
  mktest::write_file(dir.file("big.raw"), big);
  img = big;
  uint64_t blocks = (img.size() + kBlock - 1) / kBlock;
  mktest::write_file(dir.file("img.bmap"), mktest::make_bmap(img, kBlock, {{0, 255}, {blocks - 256, blocks - 1}}));
  OpenOptions opt;
  opt.bmap_path = dir.file("img.bmap");
  auto r = open_image(server->url("big.raw"), opt);
  auto c = mktest::collect(*r);
  EXPECT_EQ(c.data_bytes + c.hole_bytes, img.size());
  for (uint64_t o = (blocks - 256) * kBlock; o < img.size(); ++o) ASSERT_EQ(c.image[o], img[o]);
  EXPECT_EQ(count("GET /big.raw bytes=" + std::to_string((blocks - 256) * kBlock) + "-"), 1) << server->log();
}

}  // namespace
}  // namespace source
