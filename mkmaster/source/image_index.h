#pragma once
// An image index (docs/index.md): the BLAKE2b-128 of every non-zero block of
// a raw image, bound to the image's size and block size by a BLAKE2b-256
// over the whole file. With it, `push URL --delta` learns which blocks the
// target lacks without reading the image from the server: it compares the
// index with the agent's hashes of the disk (HashKind::kStrong) and fetches
// only the changed ranges, each checked against the index before it is sent.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "protocol/delta_hash.h"

namespace source {

inline constexpr const char* kIndexExtension = ".mkidx";
inline constexpr uint16_t kIndexVersion = 1;

struct ImageIndex {
  uint32_t block = 4096;
  uint64_t image_size = 0;
  // One bit per block (block i: byte i/8, bit i%8): the block holds data.
  // Blocks without it are all zeros.
  std::vector<uint8_t> data_map;
  // Strong hash of each data block, in block order (one per set bit).
  std::vector<mkproto::StrongHash> hashes;
  // Per block: its entry in hashes, or UINT32_MAX for a zero block (filled
  // by index_image and decode_index, so lookups are O(1)).
  std::vector<uint32_t> hash_at;

  uint64_t blocks() const { return (image_size + block - 1) / block; }
  bool has_data(uint64_t b) const { return (data_map[static_cast<size_t>(b / 8)] >> (b % 8)) & 1; }
  uint64_t block_length(uint64_t b) const { return std::min<uint64_t>(block, image_size - b * block); }
  const mkproto::StrongHash& hash_of(uint64_t b) const { return hashes[hash_at[static_cast<size_t>(b)]]; }
};

// Reads a raw image (a local file; compressed images cannot be served by
// range, docs/index.md) and indexes it; holes of a sparse file are not
// read. on_progress(done, total) is called now and then.
ImageIndex index_image(const std::string& path, uint32_t block,
                       const std::function<void(uint64_t, uint64_t)>& on_progress = {});

// The file's bytes (docs/index.md, "Format").
std::vector<uint8_t> encode_index(const ImageIndex& index);
// Checks every field and the digest; throws SourceError naming `name`, the
// field and its byte offset.
ImageIndex decode_index(const std::vector<uint8_t>& bytes, const std::string& name);

}  // namespace source
