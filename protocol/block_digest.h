#pragma once
// Per-block digests of "the image as it should land" (docs/protocol.md,
// "Verify"). The host feeds what it sends, the agent feeds what it reads
// back; both get the same XXH3-128 per verify block when the disk is right.
// Bytes in don't-care ranges (holes with --holes=skip) are left out of the
// digest on both sides; every other byte counts, zeros included.
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/checksum.h"

namespace mkproto {

class BlockDigester {
 public:
  // image_size may be kImageSizeUnknown (messages.h): end_at() tells it.
  BlockDigester(uint64_t image_size, uint32_t block);
  // Contiguous, in order: each call starts where the previous ended.
  void data(uint64_t offset, std::span<const uint8_t> bytes);
  void zeros(uint64_t offset, uint64_t length);
  void dont_care(uint64_t offset, uint64_t length);
  // Restart at a block boundary <= the current position (resume); digests of
  // whole blocks before it are kept.
  void rewind(uint64_t block_aligned_offset);
  // The image ends at position(): closes a short last block. With the size
  // given up front it must be this size.
  void end_at(uint64_t image_size);
  uint64_t position() const { return pos_; }
  uint32_t block() const { return block_; }
  // Valid once position() == image_size (and end_at() when it was unknown).
  const std::vector<Digest128>& digests() const { return digests_; }
  // XXH3-128 over the concatenated block digests.
  Digest128 overall() const;

 private:
  void advance(uint64_t offset, uint64_t length, const uint8_t* bytes, bool hashed);
  uint64_t size_;
  uint32_t block_;
  uint64_t pos_ = 0;
  Hash128 cur_;
  std::vector<Digest128> digests_;
};

}  // namespace mkproto
