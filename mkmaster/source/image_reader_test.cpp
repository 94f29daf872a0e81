#include "mkmaster/source/image_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mkmaster/source/zero_scan.h"
#include <zstd.h>
#include "testing/source_images.h"
#include "testing/temp_dir.h"

namespace source {
namespace {

using mktest::Bytes;
using ::testing::HasSubstr;

constexpr uint32_t kBlock = 4096;

// The invariants every extent stream must keep.
void check_shape(const mktest::Collected& c, const Bytes& img, const OpenOptions& opt) {
  uint64_t at = 0;
  const Extent* prev = nullptr;
  for (const auto& e : c.extents) {
    EXPECT_EQ(e.offset, at) << "extents must be contiguous";
    EXPECT_GT(e.length, 0u);
    if (!e.hole) {
      EXPECT_LE(e.length, opt.max_extent);
    }
    if (e.hole && e.mapped && at + e.length <= img.size()) {
      EXPECT_TRUE(is_zero(img.data() + at, e.length)) << "a zero-detected hole must be zeros";
    }
    if (prev && prev->hole && e.hole) {
      EXPECT_NE(prev->mapped, e.mapped) << "adjacent holes should merge";
    }
    at += e.length;
    prev = &e;
  }
  EXPECT_EQ(at, img.size());
}

mktest::Collected read_all(const std::string& path, const OpenOptions& opt = {}) {
  auto r = open_image(path, opt);
  return mktest::collect(*r);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const SourceError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ImageReader, RawRoundTripWithHoles) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(3 * 1024 * 1024 + 123, kBlock, 0.3, 7);
  mktest::write_file(dir.file("a.img"), img);
  auto r = open_image(dir.file("a.img"), {});
  EXPECT_EQ(r->size(), img.size());
  EXPECT_EQ(r->describe(), dir.file("a.img"));
  auto c = mktest::collect(*r);
  EXPECT_EQ(c.image, img);
  EXPECT_GT(c.hole_bytes, img.size() / 2);
  EXPECT_LT(c.data_bytes, img.size() / 2);
  check_shape(c, img, {});
}

TEST(ImageReader, EachCompressionRoundTripsDetectedByContent) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(2 * 1024 * 1024 + 5000, kBlock, 0.25, 9);
  struct Case {
    Compression kind;
    bool size_known;
  };
  // gzip's ISIZE trailer is no size (compression.h).
  for (Case c : {Case{Compression::gzip, false}, Case{Compression::xz, true}, Case{Compression::zstd, true},
                 Case{Compression::bzip2, false}}) {
    SCOPED_TRACE(compression_name(c.kind));
    // Named .img on purpose: detection is by magic, not by name.
    std::string path = dir.file(std::string("img-") + compression_name(c.kind) + ".img");
    mktest::write_file(path, mktest::compress(img, c.kind));
    auto r = open_image(path, {});
    EXPECT_THAT(r->describe(), HasSubstr(std::string("(") + compression_name(c.kind) + ")"));
    if (c.size_known)
      EXPECT_EQ(r->size(), img.size());
    else
      EXPECT_EQ(r->size(), std::nullopt);
    auto got = mktest::collect(*r);
    EXPECT_EQ(got.image, img);
    check_shape(got, img, {});
  }
}

TEST(ImageReader, MultiMemberGzipIsReadWhole) {
  // Concatenated gzip members (pigz, `cat a.gz b.gz`): the last member's
  // ISIZE is not the image size, so it must not be trusted.
  mktest::TempDir dir;
  Bytes a = mktest::make_image(1024 * 1024, kBlock, 0.5, 1);
  Bytes b = mktest::make_image(4096, kBlock, 1.0, 2);
  Bytes gz = mktest::compress(a, Compression::gzip);
  Bytes gz2 = mktest::compress(b, Compression::gzip);
  gz.insert(gz.end(), gz2.begin(), gz2.end());
  mktest::write_file(dir.file("multi.gz"), gz);
  auto r = open_image(dir.file("multi.gz"), {});
  EXPECT_EQ(r->size(), std::nullopt);
  Bytes whole = a;
  whole.insert(whole.end(), b.begin(), b.end());
  EXPECT_EQ(mktest::collect(*r).image, whole);
}

TEST(ImageReader, ZstdWithoutContentSizeHasNoSize) {
  // A streamed zstd frame (as libarchive or `zstd < in` write it).
  mktest::TempDir dir;
  Bytes img = mktest::make_image(256 * 1024, kBlock, 0.5, 13);
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  Bytes z(ZSTD_compressBound(img.size()));
  ZSTD_inBuffer in{img.data(), img.size(), 0};
  ZSTD_outBuffer out{z.data(), z.size(), 0};
  // Fed in pieces, so the frame header cannot record the size.
  ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_continue)));
  ZSTD_inBuffer none{nullptr, 0, 0};
  ASSERT_EQ(ZSTD_compressStream2(cctx, &out, &none, ZSTD_e_end), 0u);
  ZSTD_freeCCtx(cctx);
  z.resize(out.pos);
  mktest::write_file(dir.file("s.zst"), z);
  auto r = open_image(dir.file("s.zst"), {});
  EXPECT_EQ(r->size(), std::nullopt);
  EXPECT_EQ(mktest::collect(*r).image, img);
}

TEST(ImageReader, TruncatedAndCorruptCompressedStreamsFail) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(2 * 1024 * 1024, kBlock, 0.6, 3);
  for (Compression kind : {Compression::gzip, Compression::xz, Compression::zstd, Compression::bzip2}) {
    SCOPED_TRACE(compression_name(kind));
    Bytes z = mktest::compress(img, kind);
    Bytes cut(z.begin(), z.begin() + static_cast<long>(z.size() / 2));
    mktest::write_file(dir.file("cut"), cut);
    // Whatever a damaged file's trailer says, it is no size to refuse by.
    std::string e = error_of([&] {
      auto r = open_image(dir.file("cut"), {});  // bzip2 decodes its first block here
      EXPECT_EQ(r->size(), std::nullopt);
      mktest::collect(*r);
    });
    EXPECT_THAT(e, HasSubstr(dir.file("cut")));
    EXPECT_THAT(e, HasSubstr("truncated"));
    Bytes bad = z;
    bad[bad.size() / 2] ^= 0x55;  // caught by the format's own checksum
    mktest::write_file(dir.file("bad"), bad);
    e = error_of([&] { read_all(dir.file("bad")); });
    EXPECT_THAT(e, HasSubstr(dir.file("bad")));
    EXPECT_THAT(e, HasSubstr("corrupt"));
  }
}

TEST(ImageReader, GzipWhoseIsizeLiesFailsClearly) {
  // ISIZE is the size modulo 4 GiB: simulate a wrapped one by patching it.
  mktest::TempDir dir;
  Bytes img = mktest::make_image(512 * 1024, kBlock, 0.9, 4);
  Bytes gz = mktest::compress(img, Compression::gzip);
  uint32_t fake = static_cast<uint32_t>(img.size() - 8192);
  for (int i = 0; i < 4; ++i) gz[gz.size() - 4 + i] = static_cast<uint8_t>(fake >> (8 * i));
  mktest::write_file(dir.file("lie.gz"), gz);
  // The CRC check fails too; whichever comes first, the message names it.
  EXPECT_THAT(error_of([&] { read_all(dir.file("lie.gz")); }), HasSubstr("lie.gz"));
}

TEST(ImageReader, ZeroDetectionBoundaries) {
  mktest::TempDir dir;
  // One set byte at the first and at the last byte of a block; an image
  // whose size is not a multiple of the block with a set final byte.
  Bytes img(10 * kBlock + 100, 0);
  img[2 * kBlock] = 1;                // block 2, first byte
  img[5 * kBlock - 1] = 1;            // block 4, last byte
  img[img.size() - 1] = 1;            // partial last block
  mktest::write_file(dir.file("z.img"), img);
  auto c = read_all(dir.file("z.img"));
  EXPECT_EQ(c.image, img);
  std::vector<std::tuple<uint64_t, uint64_t, bool>> want = {
      {0, 2 * kBlock, true},      {2 * kBlock, kBlock, false},   {3 * kBlock, kBlock, true},
      {4 * kBlock, kBlock, false}, {5 * kBlock, 5 * kBlock, true}, {10 * kBlock, 100, false}};
  ASSERT_EQ(c.extents.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(c.extents[i].offset, std::get<0>(want[i])) << i;
    EXPECT_EQ(c.extents[i].length, std::get<1>(want[i])) << i;
    EXPECT_EQ(c.extents[i].hole, std::get<2>(want[i])) << i;
  }
  // A smaller zero_block finds the zero run inside block 2 and 4.
  OpenOptions fine;
  fine.zero_block = 512;
  auto f = read_all(dir.file("z.img"), fine);
  EXPECT_EQ(f.image, img);
  EXPECT_EQ(f.data_bytes, 512u + 512u + 100u);
  // Zero detection off: one extent per max_extent of data.
  OpenOptions off;
  off.detect_zeros = false;
  auto o = read_all(dir.file("z.img"), off);
  EXPECT_EQ(o.image, img);
  EXPECT_EQ(o.hole_bytes, 0u);
}

TEST(ImageReader, DataExtentsAreCutAtMaxExtent) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(3 * 1024 * 1024 + kBlock, kBlock, 1.0, 5);
  mktest::write_file(dir.file("d.img"), img);
  OpenOptions opt;
  opt.max_extent = 1 << 20;
  auto c = read_all(dir.file("d.img"), opt);
  EXPECT_EQ(c.image, img);
  ASSERT_EQ(c.extents.size(), 4u);
  EXPECT_EQ(c.extents[3].length, kBlock);
  OpenOptions bad;
  bad.max_extent = 100;
  EXPECT_THAT(error_of([&] { open_image(dir.file("d.img"), bad); }), HasSubstr("max_extent"));
}

TEST(ImageReader, SeekContinuesFromAnyOffset) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(2 * 1024 * 1024, kBlock, 0.5, 6);
  mktest::write_file(dir.file("s.img"), img);
  mktest::write_file(dir.file("s.xz"), mktest::compress(img, Compression::xz));
  for (const char* name : {"s.img", "s.xz"}) {
    SCOPED_TRACE(name);
    auto r = open_image(dir.file(name), {});
    Extent e;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(r->next(e));
    for (uint64_t at : {uint64_t{1000000}, uint64_t{12345}, uint64_t{1536 * 1024}}) {
      r->seek(at);
      auto rest = mktest::collect(*r);
      ASSERT_FALSE(rest.extents.empty());
      EXPECT_EQ(rest.extents.front().offset, at);
      Bytes want(img.begin() + static_cast<long>(at), img.end());
      EXPECT_TRUE(std::equal(want.begin(), want.end(), rest.image.begin() + static_cast<long>(at)));
      EXPECT_EQ(rest.image.size(), img.size());
    }
  }
}

TEST(ImageReader, BmapUnmappedRangesBecomeDontCareHoles) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(32 * kBlock, kBlock, 1.0, 8);  // all data...
  mktest::write_file(dir.file("b.img"), img);
  // ...but only blocks 0-3 and 10-20 are mapped (the rest is free space).
  mktest::write_file(dir.file("b.bmap"), mktest::make_bmap(img, kBlock, {{0, 3}, {10, 20}}));
  OpenOptions opt;
  opt.bmap_path = dir.file("b.bmap");
  auto r = open_image(dir.file("b.img"), opt);
  EXPECT_EQ(r->size(), img.size());
  EXPECT_THAT(r->describe(), HasSubstr("bmap " + dir.file("b.bmap")));
  auto c = mktest::collect(*r);
  ASSERT_EQ(c.extents.size(), 4u);
  EXPECT_EQ(c.extents[0].hole, false);
  EXPECT_EQ(c.extents[1].offset, 4 * kBlock);
  EXPECT_EQ(c.extents[1].length, 6 * kBlock);
  EXPECT_TRUE(c.extents[1].hole);
  EXPECT_FALSE(c.extents[1].mapped);
  EXPECT_FALSE(c.extents[3].mapped);
  EXPECT_EQ(c.data_bytes, 15 * kBlock);
  for (uint64_t o = 0; o < 4 * kBlock; ++o) ASSERT_EQ(c.image[o], img[o]);
  for (uint64_t o = 10 * kBlock; o < 21 * kBlock; ++o) ASSERT_EQ(c.image[o], img[o]);
}

TEST(ImageReader, BmapChecksumMismatchNamesTheRange) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(32 * kBlock, kBlock, 0.5, 10);
  std::string bmap = mktest::make_bmap(img, kBlock, {{0, 3}, {10, 20}});
  mktest::write_file(dir.file("c.bmap"), bmap);
  img[12 * kBlock + 7] ^= 1;  // the image no longer matches its bmap
  mktest::write_file(dir.file("c.img"), img);
  mktest::write_file(dir.file("c.zst"), mktest::compress(img, Compression::zstd));
  OpenOptions opt;
  opt.bmap_path = dir.file("c.bmap");
  for (const char* name : {"c.img", "c.zst"}) {
    std::string err = error_of([&] { read_all(dir.file(name), opt); });
    EXPECT_THAT(err, HasSubstr("range 10-20 (" + dir.file("c.bmap") + ":11, bytes 40960-86015)")) << err;
    EXPECT_THAT(err, HasSubstr("sha256"));
  }
  // Resuming past the bad byte still checks the whole range.
  auto r = open_image(dir.file("c.img"), opt);
  r->seek(15 * kBlock);
  EXPECT_THAT(error_of([&] { mktest::collect(*r); }), HasSubstr("range 10-20"));
  // Verification can be turned off.
  opt.verify_bmap = false;
  EXPECT_EQ(read_all(dir.file("c.img"), opt).image.size(), img.size());
}

// A consumer that stops early (a dropped connection) asks for the checks of
// what it was given: the range it already passed on must be reported even
// though no further next() would have run.
TEST(ImageReader, CheckSoFarReportsARangeAlreadyPassedOn) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(64 * kBlock, kBlock, 1.0, 12);
  mktest::write_file(dir.file("s.bmap"), mktest::make_bmap(img, kBlock, {{0, 3}, {10, 63}}));
  img[kBlock + 5] ^= 1;  // in range 0-3
  mktest::write_file(dir.file("s.img"), img);
  for (size_t prefetch : {size_t{0}, size_t{16} << 20}) {
    SCOPED_TRACE("prefetch " + std::to_string(prefetch));
    OpenOptions opt;
    opt.bmap_path = dir.file("s.bmap");
    opt.prefetch_bytes = prefetch;
    auto r = open_image(dir.file("s.img"), opt);
    Extent e;
    bool thrown = false;
    try {
      while (r->next(e) && e.offset + e.length < 4 * kBlock) {
      }
      r->check_so_far();
    } catch (const RangeMismatch& m) {
      thrown = true;
      EXPECT_EQ(m.begin, 0u);
      EXPECT_EQ(m.end, 4 * kBlock);
      EXPECT_THAT(m.what(), HasSubstr("range 0-3 ("));
    }
    EXPECT_TRUE(thrown) << "the bad range was forgotten";
  }
  // Nothing pending: check_so_far is quiet.
  mktest::write_file(dir.file("good.bmap"), mktest::make_bmap(img, kBlock, {{0, 3}, {10, 63}}));
  OpenOptions opt;
  opt.bmap_path = dir.file("good.bmap");
  auto r = open_image(dir.file("s.img"), opt);
  Extent e;
  ASSERT_TRUE(r->next(e));
  EXPECT_NO_THROW(r->check_so_far());
}

TEST(ImageReader, BmapWithCompressedImageAndSeek) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(64 * kBlock + 1000, kBlock, 0.5, 11);
  mktest::write_file(dir.file("i.gz"), mktest::compress(img, Compression::gzip));
  mktest::write_file(dir.file("i.bmap"), mktest::make_bmap(img, kBlock, {{0, 9}, {20, 40}, {60, 64}}));
  OpenOptions opt;
  opt.bmap_path = dir.file("i.bmap");
  auto r = open_image(dir.file("i.gz"), opt);
  EXPECT_EQ(r->size(), img.size());
  r->seek(30 * kBlock + 17);
  auto c = mktest::collect(*r);
  EXPECT_EQ(c.extents.front().offset, 30 * kBlock + 17);
  for (uint64_t o = 30 * kBlock + 17; o < 41 * kBlock; ++o) ASSERT_EQ(c.image[o], img[o]);
  for (uint64_t o = 60 * kBlock; o < img.size(); ++o) ASSERT_EQ(c.image[o], img[o]);
}

TEST(ImageReader, WrongSizedImageForBmapFails) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(16 * kBlock, kBlock, 0.5, 12);
  mktest::write_file(dir.file("w.bmap"), mktest::make_bmap(img, kBlock, {{0, 3}}));
  img.resize(8 * kBlock);
  mktest::write_file(dir.file("w.img"), img);
  mktest::write_file(dir.file("w.gz"), mktest::compress(img, Compression::gzip));
  OpenOptions opt;
  opt.bmap_path = dir.file("w.bmap");
  EXPECT_THAT(error_of([&] { open_image(dir.file("w.img"), opt); }),
              HasSubstr("is 32768 bytes but its bmap " + dir.file("w.bmap") + " says ImageSize 65536"));
  // A compressed image has no size up front: found short while reading.
  EXPECT_THAT(error_of([&] { read_all(dir.file("w.gz"), opt); }),
              HasSubstr(dir.file("w.gz") + " (gzip): truncated: the image ends at byte 32768, it should reach at least 65535"));
}

TEST(ImageReader, MissingInputsFailClearly) {
  EXPECT_THAT(error_of([] { open_image("/nonexistent/x.img", {}); }),
              HasSubstr("/nonexistent/x.img: cannot open: No such file or directory"));
  EXPECT_THAT(error_of([] { open_image("/tmp", {}); }), HasSubstr("/tmp: is a directory"));
  OpenOptions opt;
  opt.bmap_path = "/nonexistent/x.bmap";
  EXPECT_THAT(error_of([&] { open_image("/dev/null", opt); }), HasSubstr("/nonexistent/x.bmap: cannot open"));
}

TEST(ImageReader, PrefetchGivesTheSameExtentsAsDirectReading) {
  mktest::TempDir dir;
  Bytes img = mktest::make_image(8 * 1024 * 1024 + 100, kBlock, 0.5, 14);
  mktest::write_file(dir.file("p.xz"), mktest::compress(img, Compression::xz));
  auto run = [&](size_t prefetch_bytes) {
    OpenOptions opt;
    opt.prefetch_bytes = prefetch_bytes;
    opt.max_extent = 64 * 1024;
    auto r = open_image(dir.file("p.xz"), opt);
    std::vector<std::tuple<uint64_t, uint64_t, bool>> seen;
    Extent e;
    for (int i = 0; i < 20 && r->next(e); ++i) seen.emplace_back(e.offset, e.length, e.hole);
    r->seek(3 * 1024 * 1024 + 5);  // while the producer is ahead
    auto rest = mktest::collect(*r);
    for (const auto& x : rest.extents) seen.emplace_back(x.offset, x.length, x.hole);
    EXPECT_TRUE(std::equal(img.begin() + 3 * 1024 * 1024 + 5, img.end(), rest.image.begin() + 3 * 1024 * 1024 + 5));
    return seen;
  };
  auto direct = run(0);
  EXPECT_EQ(run(256 * 1024), direct);
  EXPECT_EQ(run(1), direct);  // one extent at a time
}

TEST(ImageReader, EmptyImage) {
  mktest::TempDir dir;
  mktest::write_file(dir.file("e.img"), Bytes{});
  auto c = read_all(dir.file("e.img"));
  EXPECT_TRUE(c.extents.empty());
}

}  // namespace
}  // namespace source
