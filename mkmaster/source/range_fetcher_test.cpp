// Multi-range requests against the local test server: the bytes of many
// ranges in one request, one connection for many requests, and a server
// that ignores Range told apart.
#include "mkmaster/source/range_fetcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/source_images.h"
#include "testing/temp_dir.h"

namespace source {
namespace {

using ::testing::HasSubstr;

struct Ranges : ::testing::Test {
  mktest::TempDir dir;
  mktest::Bytes img = mktest::make_image(3 * 1024 * 1024 + 5, 4096, 0.5, 9);
  std::unique_ptr<mktest::HttpServer> server;
  void SetUp() override {
    mktest::write_file(dir.file("img.raw"), img);
    server = std::make_unique<mktest::HttpServer>(dir.path(), true);
  }
  mktest::Bytes slice(uint64_t a, uint64_t b) { return {img.begin() + a, img.begin() + b}; }
};

TEST_F(Ranges, ManyRangesInOneRequest) {
  RangeFetcher f(server->url("img.raw"));
  std::vector<ByteSpan> r{{0, 4096}, {8192, 8193}, {1 << 20, (1 << 20) + 70000}, {img.size() - 5, img.size()}};
  auto got = f.fetch(r);
  ASSERT_EQ(got.size(), r.size());
  for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(got[i], slice(r[i].begin, r[i].end)) << i;
  EXPECT_EQ(f.total_size(), img.size());
  EXPECT_EQ(f.requests(), 1);
  // One range: a plain 206.
  auto one = f.fetch({{100, 200}});
  EXPECT_EQ(one.at(0), slice(100, 200));
  // The multipart headers are the only overhead.
  EXPECT_LT(f.body_bytes(), 4096 + 1 + 70000 + 5 + 100 + 4 * 200u);
  EXPECT_EQ(server->bytes_sent("/img.raw"), f.body_bytes());
}

TEST_F(Ranges, RequestsShareOneConnection) {
  RangeFetcher f(server->url("img.raw"));
  for (uint64_t i = 0; i < 5; ++i) EXPECT_EQ(f.fetch({{i * 4096, i * 4096 + 10}}).at(0), slice(i * 4096, i * 4096 + 10));
  EXPECT_EQ(f.requests(), 5);
  EXPECT_EQ(f.connections(), 1);
}

TEST_F(Ranges, AServerIgnoringRangeIsToldApart) {
  RangeFetcher f(server->url("img.raw?norange=1"));
  try {
    f.fetch({{0, 10}, {5000, 5010}});
    FAIL() << "no error";
  } catch (const NoRangeSupport& e) {
    EXPECT_THAT(e.what(), HasSubstr("whole image (HTTP 200)"));
  }
  // The transfer was abandoned at its first bytes, not read to the end.
  EXPECT_LT(f.body_bytes(), img.size());
}

TEST_F(Ranges, HttpErrorsAndRangesPastTheEnd) {
  RangeFetcher missing(server->url("nope.raw"));
  try {
    missing.fetch({{0, 10}});
    FAIL();
  } catch (const NoRangeSupport&) {
    FAIL() << "a 404 is not a server without Range";
  } catch (const SourceError& e) {
    EXPECT_THAT(e.what(), HasSubstr("HTTP 404"));
  }
  RangeFetcher f(server->url("img.raw"));
  try {
    f.fetch({{0, 10}, {img.size() + 10, img.size() + 20}});
    FAIL();
  } catch (const SourceError& e) {
    EXPECT_THAT(e.what(), HasSubstr("lacks bytes"));
  }
}

TEST(IndexUrl, ExtensionGoesBeforeTheQuery) {
  EXPECT_EQ(index_url_for("http://h/a/img.raw"), "http://h/a/img.raw.mkidx");
  EXPECT_EQ(index_url_for("http://h/img.raw?x=1"), "http://h/img.raw.mkidx?x=1");
}

}  // namespace
}  // namespace source
