#pragma once
// Byte ranges a session marked as it went (don't-care holes, delta blocks it
// kept), for VERIFY to leave out. Frames arrive in offset order, so ranges
// are appended in order and adjacent ones merge; a session that restarts
// below its watermark truncates. A flat vector: 16 bytes a range, where a
// std::map node cost ~48 — it lives for the whole push in a 16 MiB agent.
#include <cstdint>
#include <vector>

namespace agent {

struct ByteRange {
  uint64_t start = 0, end = 0;  // [start, end)
  bool operator==(const ByteRange&) const = default;
};

class RangeList {
 public:
  // Appends [start, end); a range overlapping or touching the last one
  // extends it. start must not lie before the last range's start.
  void add(uint64_t start, uint64_t end);
  // Forgets everything at or after `at` (a range across it is cut).
  void truncate(uint64_t at);
  const std::vector<ByteRange>& ranges() const { return ranges_; }
  bool empty() const { return ranges_.empty(); }

 private:
  std::vector<ByteRange> ranges_;
};

// The union of two range lists, in order, adjacent ranges merged.
std::vector<ByteRange> merge_ranges(const std::vector<ByteRange>& a, const std::vector<ByteRange>& b);

}  // namespace agent
