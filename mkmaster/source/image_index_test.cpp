// The image index file: what index_image records, and a specific error for
// each malformed field of the file.
#include "mkmaster/source/image_index.h"

#include <gmock/gmock.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "mkmaster/source/image_reader.h"
#include "protocol/wire.h"
#include "testing/source_images.h"
#include "testing/temp_dir.h"

namespace source {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::vector<uint8_t>& bytes) {
  try {
    decode_index(bytes, "img.mkidx");
  } catch (const SourceError& e) {
    return e.what();
  }
  return "(no error)";
}

void set_le(std::vector<uint8_t>& b, size_t at, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

struct Index : ::testing::Test {
  mktest::TempDir dir;
  // Not a multiple of the block: the last block is short.
  mktest::Bytes img = mktest::make_image(2 * 1024 * 1024 + 1000, 4096, 0.3, 5);
  std::vector<uint8_t> file;
  void SetUp() override {
    mktest::write_file(dir.file("img.raw"), img);
    file = encode_index(index_image(dir.file("img.raw"), 4096));
  }
};

TEST_F(Index, RecordsEachDataBlocksHashAndRoundTrips) {
  const ImageIndex ix = decode_index(file, "img.mkidx");
  EXPECT_EQ(ix.image_size, img.size());
  EXPECT_EQ(ix.block, 4096u);
  EXPECT_EQ(ix.blocks(), (img.size() + 4095) / 4096);
  size_t data = 0;
  for (uint64_t b = 0; b < ix.blocks(); ++b) {
    const size_t len = static_cast<size_t>(ix.block_length(b));
    const bool zero = std::all_of(img.begin() + b * 4096, img.begin() + b * 4096 + len, [](uint8_t c) { return c == 0; });
    ASSERT_EQ(ix.has_data(b), !zero) << b;
    if (!zero) {
      ++data;
      EXPECT_EQ(ix.hash_of(b), mkproto::strong_hash(img.data() + b * 4096, len)) << b;
    }
  }
  EXPECT_EQ(ix.hashes.size(), data);
  EXPECT_GT(data, 0u);
  EXPECT_LT(data, ix.blocks());
  EXPECT_EQ(encode_index(ix), file);
}

TEST_F(Index, HolesOfASparseFileAreZeroBlocks) {
  // The same image with its zero runs as holes: the same index.
  const std::string sparse = dir.file("sparse.raw");
  mktest::write_file(sparse, mktest::Bytes{});
  ASSERT_EQ(::truncate(sparse.c_str(), static_cast<off_t>(img.size())), 0);
  {
    int fd = ::open(sparse.c_str(), O_WRONLY);
    for (size_t b = 0; b * 4096 < img.size(); ++b) {
      const size_t len = std::min<size_t>(4096, img.size() - b * 4096);
      if (std::any_of(img.begin() + b * 4096, img.begin() + b * 4096 + len, [](uint8_t c) { return c != 0; })) {
        ASSERT_EQ(::pwrite(fd, img.data() + b * 4096, len, static_cast<off_t>(b * 4096)), static_cast<ssize_t>(len));
      }
    }
    ::close(fd);
  }
  EXPECT_EQ(encode_index(index_image(sparse, 4096)), file);
}

TEST_F(Index, EachMalformedFieldIsNamed) {
  EXPECT_THAT(error_of({'n', 'o', 'p', 'e'}), HasSubstr("field magic (byte 0): not an mkmaster image index"));
  auto b = file;
  set_le(b, 8, 2, 2);
  EXPECT_THAT(error_of(b), HasSubstr("field version (byte 8): version 2, this mkmaster reads version 1"));
  b = file;
  set_le(b, 10, 7, 2);
  EXPECT_THAT(error_of(b), HasSubstr("field algorithm (byte 10): unknown hash algorithm 7"));
  b = file;
  set_le(b, 12, 5000, 4);
  EXPECT_THAT(error_of(b), HasSubstr("field block (byte 12): 5000 is not a power of two"));
  b = file;
  set_le(b, 24, 3, 8);
  EXPECT_THAT(error_of(b), HasSubstr("field blocks (byte 24): 3, but image_size"));
  b = file;
  set_le(b, 32, 1u << 30, 8);
  EXPECT_THAT(error_of(b), HasSubstr("field data_blocks (byte 32)"));
  b = file;
  b.push_back(0);
  EXPECT_THAT(error_of(b), HasSubstr("field end"));
  b = file;
  b[b.size() - 3] ^= 1;  // a hash edited
  EXPECT_THAT(error_of(b), HasSubstr("field digest (byte 40): does not match"));
  // A header edited consistently (the size of another image) fails the digest.
  b = file;
  set_le(b, 16, img.size() - 1, 8);
  EXPECT_THAT(error_of(b), HasSubstr("field digest"));
}

TEST_F(Index, ATruncatedIndexSaysSo) {
  for (size_t keep : {size_t{20}, size_t{72}, file.size() - 1}) {
    auto b = file;
    b.resize(keep);
    EXPECT_THAT(error_of(b), HasSubstr("truncated")) << keep;
  }
}

TEST_F(Index, ABadBlockSizeIsRefusedWhenIndexing) {
  try {
    index_image(dir.file("img.raw"), 1000);
    FAIL() << "no error";
  } catch (const SourceError& e) {
    EXPECT_THAT(e.what(), HasSubstr("not a power of two"));
  }
}

}  // namespace
}  // namespace source
