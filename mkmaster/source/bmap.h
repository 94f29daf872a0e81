#pragma once
// bmaptool's block map (XML, format versions 1.0-1.4 and 2.0): which blocks
// of an image hold data, with an optional checksum per range. Blocks outside
// every range are "don't care" (unmapped) and are not sent.
#include <cstdint>
#include <string>
#include <vector>

namespace source {

struct BmapRange {
  uint64_t first = 0;    // first block
  uint64_t last = 0;     // last block, inclusive
  std::string checksum;  // lower-case hex; empty when the file has none
  int line = 0;          // where it is in the .bmap, for messages
};

struct Bmap {
  std::string path;
  std::string version;        // "2.0"
  uint64_t image_size = 0;
  uint64_t block_size = 0;
  uint64_t blocks_count = 0;
  uint64_t mapped_blocks_count = 0;
  std::string checksum_type;  // "sha256", "sha1" (1.3), or "" (1.0-1.2)
  std::vector<BmapRange> ranges;  // increasing, non-overlapping

  uint64_t range_begin(const BmapRange& r) const { return r.first * block_size; }
  // Exclusive; the last block may be cut short by image_size.
  uint64_t range_end(const BmapRange& r) const;
};

// Parses and validates (XML well-formed, required fields, numbers, ranges in
// order and inside the image, counts consistent, the file's own checksum).
// Throws SourceError "<path>:<line>: <element>: <problem>".
Bmap parse_bmap_file(const std::string& path);
Bmap parse_bmap(const std::string& text, const std::string& name);

}  // namespace source
