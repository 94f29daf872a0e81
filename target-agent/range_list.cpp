#include "target-agent/range_list.h"

#include <algorithm>
#include <stdexcept>

namespace agent {

void RangeList::add(uint64_t start, uint64_t end) {
  if (end <= start) return;
  if (!ranges_.empty()) {
    ByteRange& last = ranges_.back();
    if (start < last.start) throw std::logic_error("RangeList::add: range before the last one");
    if (start <= last.end) {
      last.end = std::max(last.end, end);
      return;
    }
  }
  ranges_.push_back({start, end});
}

void RangeList::truncate(uint64_t at) {
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), at, [](const ByteRange& r, uint64_t v) { return r.start < v; });
  ranges_.erase(it, ranges_.end());
  if (!ranges_.empty() && ranges_.back().end > at) ranges_.back().end = at;
}

std::vector<ByteRange> merge_ranges(const std::vector<ByteRange>& a, const std::vector<ByteRange>& b) {
  std::vector<ByteRange> all;
  all.reserve(a.size() + b.size());
  std::merge(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(all),
             [](const ByteRange& x, const ByteRange& y) { return x.start < y.start; });
  std::vector<ByteRange> out;
  for (const ByteRange& r : all) {
    if (!out.empty() && r.start <= out.back().end)
      out.back().end = std::max(out.back().end, r.end);
    else
      out.push_back(r);
  }
  return out;
}

}  // namespace agent
