// push URL --delta with an image index (docs/index.md), against the local
// Range-capable test server: only the changed blocks are fetched; a stale
// index, a truncated one, one of another image fail with what is wrong; a
// server that ignores Range makes the push read the whole image, and say so.
#include <fmt/core.h>
#include <gmock/gmock.h>

#include "mkmaster/source/image_index.h"
#include "testing/push_fixture.h"
#include "testing/source_images.h"

using namespace mktest;
using ::testing::HasSubstr;

namespace {

// What a delta reflash re-sends besides its changes: the boot sectors the
// agent wipes at OPEN (the first MiB and the backup GPT).
constexpr uint64_t kBootBytes = (1u << 20) + (16u << 10) + 512;
constexpr uint32_t kBlock = 4096;

class PushIndex : public PushTest {
 protected:
  void SetUp() override {
    PushTest::SetUp();
    v1 = make_sparse_image(12 << 20, 31);
    write_file(path("disk"), v1);  // the target holds version 1
  }
  // Writes `image` where the server serves it, and an index of `indexed`
  // beside it (as `mkmaster index` would), returning the index's size.
  uint64_t serve(const Bytes& image, const Bytes& indexed) {
    write_file(path("indexed.raw"), indexed);
    auto file = source::encode_index(source::index_image(path("indexed.raw"), kBlock));
    write_file(path("img.raw.mkidx"), file);
    write_file(path("img.raw"), image);
    return file.size();
  }
  // v1 with `n` scattered data blocks rewritten (and one zero block given data).
  Bytes changed(const Bytes& from, int n, uint8_t salt) {
    Bytes out = from;
    for (int i = 0; i < n; ++i) {
      const size_t b = (static_cast<size_t>(i) * 97 + 300) % (out.size() / kBlock);
      for (size_t k = 0; k < kBlock; k += 512) out[b * kBlock + k] ^= static_cast<uint8_t>(salt + i);
    }
    return out;
  }
  push::PushOptions delta(const std::string& query = "") {
    auto o = options(server->url("img.raw" + query), path("disk"));
    o.delta = true;
    return o;
  }
  std::string error_of(const push::PushOptions& o) {
    try {
      push::push_image(o);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  }
  Bytes v1;
  std::unique_ptr<HttpServer> server = std::make_unique<HttpServer>(dir_.path(), true);
};

TEST_F(PushIndex, FetchesOnlyTheChangedBlocks) {
  const Bytes v2 = changed(v1, 40, 1);
  const uint64_t index_bytes = serve(v2, v2);
  auto r = push::push_image(delta());
  EXPECT_EQ(read_file(path("disk")), v2);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_THAT(r.index_note, HasSubstr("img.raw.mkidx"));
  // Changed: the 40 blocks, and the boot sectors the agent wiped.
  const uint64_t changed_bytes = 40 * kBlock + kBootBytes;
  const uint64_t from_server = server->bytes_sent("/img.raw");
  EXPECT_EQ(from_server, r.http_range_bytes);
  EXPECT_LE(static_cast<double>(from_server + index_bytes), 1.2 * static_cast<double>(changed_bytes + index_bytes))
      << r.index_note;
  EXPECT_GE(from_server, 40 * kBlock);
  EXPECT_LE(r.http_range_requests, 4) << r.index_note;  // the probe and a few multi-range GETs
  EXPECT_EQ(server->log().find("GET /img.raw -"), std::string::npos) << "the image was read whole:\n" << server->log();
  // The written blocks were read back; the rest was compared by hash.
  EXPECT_GT(r.kept_bytes, v1.size() / 2);
  EXPECT_GT(r.verify_bytes_read, 0u);
  EXPECT_LT(r.verify_bytes_read, v1.size() / 2);
}

TEST_F(PushIndex, AStaleIndexFailsNamingTheFirstBadRange) {
  // The index describes version 2; the server has since got version 3,
  // which differs from 2 in blocks the target must fetch.
  const Bytes v2 = changed(v1, 40, 1);
  Bytes v3 = v2;
  const size_t bad = (5 * 97 + 300) % (v1.size() / kBlock);  // the 6th changed block
  v3[bad * kBlock + 9] ^= 0x5a;
  const size_t later = (20 * 97 + 300) % (v1.size() / kBlock);
  v3[later * kBlock + 9] ^= 0x5a;
  serve(v3, v2);
  const std::string e = error_of(delta());
  EXPECT_THAT(e, HasSubstr("stale index"));
  EXPECT_THAT(e, HasSubstr(fmt::format("[{}, {})", std::min(bad, later) * kBlock, std::min(bad, later) * kBlock + kBlock)));
  EXPECT_THAT(e, HasSubstr("nothing of that range was sent"));
  // Not a byte of version 3's bad block reached the disk.
  Bytes disk = read_file(path("disk"));
  const size_t first = std::min(bad, later);
  EXPECT_NE(Bytes(disk.begin() + first * kBlock, disk.begin() + (first + 1) * kBlock),
            Bytes(v3.begin() + first * kBlock, v3.begin() + (first + 1) * kBlock));
}

TEST_F(PushIndex, ATruncatedIndexFailsBeforeTheNodeIsTouched) {
  const Bytes v2 = changed(v1, 4, 1);
  serve(v2, v2);
  Bytes ix = read_file(path("img.raw.mkidx"));
  ix.resize(ix.size() - 16);
  write_file(path("img.raw.mkidx"), ix);
  EXPECT_THAT(error_of(delta()), HasSubstr("field hashes (byte"));
  EXPECT_THAT(error_of(delta()), HasSubstr("truncated"));
  EXPECT_EQ(read_file(path("disk")), v1);
}

TEST_F(PushIndex, AnIndexOfAnotherImageIsRefused) {
  // Another size.
  Bytes other = make_sparse_image(8 << 20, 77);
  serve(v1, other);
  EXPECT_THAT(error_of(delta()), HasSubstr("an index of another image"));
  // The same size, other bytes: the probe's blocks do not match.
  serve(v1, make_sparse_image(v1.size(), 78));
  const std::string e = error_of(delta());
  EXPECT_THAT(e, HasSubstr("stale index"));
  EXPECT_THAT(e, HasSubstr("nothing was sent to the node"));
  EXPECT_EQ(read_file(path("disk")), v1);
}

TEST_F(PushIndex, AServerWithoutRangeFallsBackToReadingTheImage) {
  const Bytes v2 = changed(v1, 10, 3);
  serve(v2, v2);
  auto r = push::push_image(delta("?norange=1"));
  EXPECT_EQ(read_file(path("disk")), v2);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_THAT(r.index_note, HasSubstr("whole image (HTTP 200)"));
  EXPECT_THAT(r.index_note, HasSubstr("the whole image is read instead"));
}

TEST_F(PushIndex, NoIndexOnTheServerReadsTheImageAndSaysSo) {
  write_file(path("img.raw"), changed(v1, 3, 5));
  auto r = push::push_image(delta());
  EXPECT_EQ(read_file(path("disk")), read_file(path("img.raw")));
  EXPECT_THAT(r.index_note, HasSubstr("none at"));
  EXPECT_THAT(r.index_note, HasSubstr("404"));
}

TEST_F(PushIndex, AnIndexGivenByPath) {
  const Bytes v2 = changed(v1, 7, 9);
  serve(v2, v2);
  ::rename(path("img.raw.mkidx").c_str(), path("elsewhere.mkidx").c_str());
  auto o = delta();
  o.index = path("elsewhere.mkidx");
  auto r = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), v2);
  EXPECT_THAT(r.index_note, HasSubstr("elsewhere.mkidx"));
  // --verify-all needs the unchanged bytes, which the host never reads.
  o.verify_kept = true;
  EXPECT_THAT(error_of(o), HasSubstr("--verify-all"));
}

}  // namespace
