#include "mkmaster/source/bmap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "mkmaster/source/image_reader.h"
#include "testing/source_images.h"
#include "testing/temp_dir.h"

namespace source {
namespace {

using mktest::Bytes;
using ::testing::HasSubstr;

std::string error_of(const std::string& text) {
  try {
    parse_bmap(text, "t.bmap");
  } catch (const SourceError& e) {
    return e.what();
  }
  return "(no error)";
}

// A hand-written 2.0 file (no file checksum), one element per line so the
// tests can name lines: line 3 ImageSize ... line 9 the first Range.
std::string v2(const std::string& image_size = "16384", const std::string& blocks = "4",
               const std::string& mapped = "3", const std::string& r1 = "0-1", const std::string& r2 = "3") {
  return "<?xml version=\"1.0\" ?>\n"              // 1
         "<bmap version=\"2.0\">\n"                // 2
         "  <ImageSize> " + image_size + " </ImageSize>\n"  // 3
         "  <BlockSize> 4096 </BlockSize>\n"        // 4
         "  <BlocksCount> " + blocks + " </BlocksCount>\n"  // 5
         "  <MappedBlocksCount> " + mapped + " </MappedBlocksCount>\n"  // 6
         "  <ChecksumType> sha256 </ChecksumType>\n"  // 7
         "  <BlockMap>\n"                            // 8
         "    <Range> " + r1 + " </Range>\n"         // 9
         "    <Range> " + r2 + " </Range>\n"         // 10
         "  </BlockMap>\n"
         "</bmap>\n";
}

TEST(Bmap, ParsesVersion2) {
  Bmap b = parse_bmap(v2(), "t.bmap");
  EXPECT_EQ(b.version, "2.0");
  EXPECT_EQ(b.image_size, 16384u);
  EXPECT_EQ(b.block_size, 4096u);
  EXPECT_EQ(b.blocks_count, 4u);
  EXPECT_EQ(b.checksum_type, "sha256");
  ASSERT_EQ(b.ranges.size(), 2u);
  EXPECT_EQ(b.ranges[0].first, 0u);
  EXPECT_EQ(b.ranges[0].last, 1u);
  EXPECT_EQ(b.ranges[0].line, 9);
  EXPECT_EQ(b.ranges[1].first, 3u);  // the old single-block form "X"
  EXPECT_EQ(b.ranges[1].last, 3u);
  EXPECT_EQ(b.range_end(b.ranges[1]), 16384u);
}

TEST(Bmap, LastBlockCutByImageSize) {
  Bmap b = parse_bmap(v2("13000"), "t.bmap");
  EXPECT_EQ(b.range_end(b.ranges[1]), 13000u);
}

TEST(Bmap, ChecksummedFileFromOurWriterVerifies) {
  Bytes img = mktest::make_image(10 * 4096, 4096, 0.5, 1);
  std::string text = mktest::make_bmap(img, 4096, {{0, 2}, {5, 9}});
  Bmap b = parse_bmap(text, "ok.bmap");
  ASSERT_EQ(b.ranges.size(), 2u);
  EXPECT_EQ(b.ranges[0].checksum.size(), 64u);
  // Any change to the file breaks BmapFileChecksum.
  std::string bad = text;
  bad.replace(bad.find("5-9"), 3, "5-8");
  bad.replace(bad.find("<MappedBlocksCount> 8"), 21, "<MappedBlocksCount> 7");
  EXPECT_THAT(error_of(bad), HasSubstr("BmapFileChecksum: the bmap file is corrupted"));
}

TEST(Bmap, Version13UsesSha1Attributes) {
  std::string text =
      "<?xml version=\"1.0\" ?>\n<bmap version=\"1.3\">\n<ImageSize>4096</ImageSize>\n"
      "<BlockSize>4096</BlockSize>\n<BlocksCount>1</BlocksCount>\n<MappedBlocksCount>1</MappedBlocksCount>\n"
      "<BlockMap>\n<Range sha1=\"da39a3ee5e6b4b0d3255bfef95601890afd80709\">0-0</Range>\n</BlockMap>\n</bmap>\n";
  Bmap b = parse_bmap(text, "t.bmap");
  EXPECT_EQ(b.checksum_type, "sha1");
  EXPECT_EQ(b.ranges[0].checksum, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(Bmap, ReadsWhatBmaptoolWrites) {
  // Interoperability with Debian's bmap-tools (installed by setup-host.sh).
  mktest::TempDir dir;
  Bytes img = mktest::make_image(64 * 4096, 4096, 0.3, 2);
  mktest::write_file(dir.file("img.raw"), img);
  // Make the zero blocks real holes so bmaptool leaves them unmapped.
  std::string cmd = "fallocate --dig-holes " + dir.file("img.raw") + " && bmaptool -q create -o " +
                    dir.file("img.bmap") + " " + dir.file("img.raw");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  Bmap b = parse_bmap_file(dir.file("img.bmap"));
  EXPECT_EQ(b.image_size, img.size());
  EXPECT_EQ(b.block_size, 4096u);
  EXPECT_EQ(b.checksum_type, "sha256");
  uint64_t mapped = 0;
  for (auto& r : b.ranges) {
    EXPECT_FALSE(r.checksum.empty());
    mapped += r.last - r.first + 1;
  }
  EXPECT_GT(mapped, 5u);
  EXPECT_LT(mapped, 40u);
}

TEST(BmapErrors, MalformedRangeNamesItsLine) {
  EXPECT_EQ(error_of(v2("16384", "4", "3", "0-x")), "t.bmap:9: Range: 'x' is not a non-negative integer");
  EXPECT_EQ(error_of(v2("16384", "4", "3", "0-1", "-3")), "t.bmap:10: Range: '' is not a non-negative integer");
  EXPECT_EQ(error_of(v2("16384", "4", "3", "2-1")), "t.bmap:9: Range: '2-1': first block after last block");
  EXPECT_THAT(error_of(v2("16384", "4", "3", "0-1", "4")), HasSubstr("t.bmap:10: Range: '4': beyond the image's 4 blocks"));
  EXPECT_THAT(error_of(v2("16384", "4", "3", "0-1", "1")), HasSubstr("t.bmap:10: Range: '1': overlaps or precedes the range on line 9"));
}

TEST(BmapErrors, BadNumbersAndCounts) {
  EXPECT_EQ(error_of(v2("12k")), "t.bmap:3: ImageSize: '12k' is not a non-negative integer");
  EXPECT_THAT(error_of(v2("16384", "5")), HasSubstr("t.bmap:5: BlocksCount: 5 does not match ImageSize 16384"));
  EXPECT_THAT(error_of(v2("16384", "4", "2")), HasSubstr("t.bmap:6: MappedBlocksCount: 2 but the ranges map 3 blocks"));
}

TEST(BmapErrors, NotWellFormedXmlNamesItsLine) {
  std::string text = v2();
  text.replace(text.find("</BlockSize>"), 12, "</Blocksize>");
  EXPECT_THAT(error_of(text), HasSubstr("t.bmap:4: not well-formed XML: mismatched tag"));
  EXPECT_THAT(error_of(""), HasSubstr("t.bmap:1: not well-formed XML"));
}

TEST(BmapErrors, MissingFieldsVersionsAndChecksums) {
  std::string text = v2();
  text.erase(text.find("  <ImageSize>"), text.find("\n", text.find("<ImageSize>")) - text.find("  <ImageSize>") + 1);
  EXPECT_THAT(error_of(text), HasSubstr("missing <ImageSize>"));

  std::string v3 = v2();
  v3.replace(v3.find("2.0"), 3, "3.0");
  EXPECT_THAT(error_of(v3), HasSubstr("format version 3.0 is not supported"));

  std::string root = v2();
  root.replace(root.find("<bmap "), 6, "<bmop ");
  root.replace(root.rfind("</bmap>"), 7, "</bmop>");
  EXPECT_THAT(error_of(root), HasSubstr("t.bmap:2: root element is <bmop>"));

  std::string algo = v2();
  algo.replace(algo.find(" sha256 "), 8, " sha999 ");
  EXPECT_THAT(error_of(algo), HasSubstr("t.bmap:7: ChecksumType: unknown checksum type 'sha999'"));

  std::string short_sum = v2();
  short_sum.replace(short_sum.find("<Range> 0-1"), 11, "<Range chksum=\"abc\"> 0-1");
  EXPECT_THAT(error_of(short_sum), HasSubstr("t.bmap:9: Range chksum: 'abc' is not a 64-digit sha256 checksum"));
}

TEST(BmapErrors, MissingFile) {
  EXPECT_THROW(parse_bmap_file("/nonexistent/x.bmap"), SourceError);
}

}  // namespace
}  // namespace source
