#pragma once
// Re-sending the verify blocks that read back wrong (docs/protocol.md,
// "Repair"): which blocks differ, and their image bytes for a REPAIR round,
// read from the source and planned as the first pass planned them (holes
// as ZERO or dont-care, no delta: the target's copy is known to be wrong).
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "mkmaster/push/agent_client.h"
#include "mkmaster/push/frame_sender.h"
#include "mkmaster/source/image_reader.h"
#include "protocol/messages.h"

namespace push {

struct ByteRange {
  uint64_t begin = 0, end = 0;  // [begin, end)
  bool operator==(const ByteRange&) const = default;
};

// The blocks of `got` whose digest differs from `want` (the host's, by block
// index), adjacent ones merged, in order. Throws ProtocolError(kMalformed)
// for a digest the agent should not have sent (offset not a block of the
// image, or a block twice).
std::vector<ByteRange> mismatched_blocks(const std::vector<mkproto::Digest128>& want,
                                         const AgentClient::VerifyReply& got, uint32_t block, uint64_t image_size);

// "[a, b)" or "[a, b) and [c, d)" or "[a, b), [c, d) and 3 more ranges".
std::string describe_ranges(const std::vector<ByteRange>& ranges);
// Orders a reply's digests by block offset (an overlapped VERIFY sends the
// boot sectors' blocks last).
void sort_by_offset(AgentClient::VerifyReply& reply);

class RangeResender {
 public:
  using OpenSource = std::function<std::unique_ptr<source::ImageReader>()>;
  RangeResender(OpenSource open, mkproto::HolesMode holes, uint64_t image_size);
  // Sends REPAIR and the placement frames of each range (in order,
  // disjoint) through `sender`, flushed. The first round reads the source
  // once (seeking forward between distant ranges: a compressed stream
  // decompresses up to the last range only) and keeps up to kCacheBytes of
  // what it read, so a later round over the same ranges reads nothing.
  void send(AgentClient& client, const std::vector<ByteRange>& ranges, FrameSender& sender);
  int source_opens() const { return opens_; }

  static constexpr uint64_t kCacheBytes = 64u << 20;
  // Ranges closer than this are reached by reading on, not by seeking: a
  // compressed source's seek back into what it prefetched (16 MiB) would
  // start its decompression over.
  static constexpr uint64_t kSeekGap = 32u << 20;

 private:
  bool cache_covers(const std::vector<ByteRange>& ranges) const;

  OpenSource open_;
  mkproto::HolesMode holes_;
  uint64_t size_;
  int opens_ = 0;
  std::vector<ByteRange> cached_ranges_;
  std::vector<source::Extent> cache_;  // pieces of cached_ranges_, in order
};

}  // namespace push
