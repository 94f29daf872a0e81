#include "mkmaster/initrd/gzip_segments.h"
#include "testing/temp_dir.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <random>

namespace initrd {
namespace {

namespace fs = std::filesystem;

// Inflates a gzip file with zlib (checks CRC and size).
std::string gunzip(const std::string& gz) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 16 + 15), Z_OK);
  std::string out;
  char buf[65536];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  EXPECT_EQ(rc, Z_STREAM_END);
  EXPECT_EQ(z.avail_in, 0u) << "trailing bytes: not a single gzip member";
  inflateEnd(&z);
  return out;
}

std::string sample() {
  std::mt19937 rng(7);
  std::string s;
  for (int i = 0; i < 300000; ++i) s += static_cast<char>('a' + rng() % 6);  // compressible
  for (int i = 0; i < 100000; ++i) s += static_cast<char>(rng());           // not
  s += std::string(50000, 'z');
  return s;
}

TEST(GzipSegments, SingleMemberThatRoundTrips) {
  std::string data = sample();
  std::vector<ByteRange> ranges = {{1000, 250000}, {250000, 260000} /* too small: glue */, {300000, 400000}};
  GzipStats st;
  std::string gz = gzip_segmented(data, ranges, "", 6, &st);
  EXPECT_EQ(gunzip(gz), data);
  // glue 0..1000, 1000..250000, glue 250000..300000 (the small range merged in), 300000..400000, glue
  EXPECT_EQ(st.segments, 5u);
  EXPECT_EQ(gz.substr(0, 4), std::string("\x1f\x8b\x08\x00", 4));
  EXPECT_EQ(gz.substr(4, 4), std::string(4, '\0'));  // mtime 0
  EXPECT_EQ(gunzip(gzip_segmented("", {}, "", 6)), "");
}

TEST(GzipSegments, CacheGivesTheSameBytesAndIsUsed) {
  std::string data = sample();
  std::vector<ByteRange> ranges = {{0, 200000}, {200000, 450000}};
  fs::path dir = mktest::scratch() / "gzcache";
  GzipStats cold, warm;
  std::string a = gzip_segmented(data, ranges, dir.string(), 6, &cold);
  std::string b = gzip_segmented(data, ranges, dir.string(), 6, &warm);
  std::string c = gzip_segmented(data, ranges, "", 6);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_EQ(cold.cached, 0u);
  EXPECT_EQ(warm.cached, 2u);
  EXPECT_EQ(warm.compressed, warm.segments - 2);
  // A changed file misses, the unchanged one still hits.
  data[100] ^= 1;
  GzipStats changed;
  std::string d = gzip_segmented(data, ranges, dir.string(), 6, &changed);
  EXPECT_EQ(changed.cached, 1u);
  EXPECT_EQ(gunzip(d), data);
  // An unusable cache directory only costs speed.
  EXPECT_EQ(gunzip(gzip_segmented(data, ranges, "/proc/self/no-such/dir", 6)), data);
}

// Each segment's last block is made non-final and padded to a byte with an
// empty stored block; where the block ends (bit 0..7 of a byte) depends on
// the content. Segments of many sizes and kinds (text, random: libdeflate
// stores those, runs) put the end at every bit position at least once.
TEST(GzipSegments, SegmentsEndingAtAnyBitStillFormOneStream) {
  std::mt19937 rng(11);
  std::string data;
  std::vector<ByteRange> ranges;
  for (int i = 0; i < 48; ++i) {
    const size_t begin = data.size();
    const size_t n = 16 * 1024 + rng() % 40000;
    for (size_t j = 0; j < n; ++j) {
      switch (i % 3) {
        case 0: data += static_cast<char>('a' + rng() % (2 + i % 20)); break;
        case 1: data += static_cast<char>(rng()); break;
        default: data += static_cast<char>(j / 997); break;
      }
    }
    ranges.push_back({begin, data.size()});
    data += std::string(rng() % 300, 'g');  // glue between them
  }
  std::string a = gzip_segmented(data, ranges, "", 6);
  EXPECT_EQ(gunzip(a), data);
  EXPECT_EQ(gzip_segmented(data, ranges, "", 6), a);  // deterministic
  // Every level the build may be given.
  for (int level : {1, 9}) EXPECT_EQ(gunzip(gzip_segmented(data, ranges, "", level)), data) << level;
}

}  // namespace
}  // namespace initrd
