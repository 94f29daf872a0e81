#include "mkmaster/push/repair.h"

#include <fmt/core.h>

#include <algorithm>
#include <optional>

#include "mkmaster/push/planner.h"

namespace push {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

std::vector<ByteRange> mismatched_blocks(const std::vector<mkproto::Digest128>& want,
                                         const AgentClient::VerifyReply& got, uint32_t block, uint64_t image_size) {
  std::vector<ByteRange> out;
  std::optional<uint64_t> last;
  for (size_t i = 0; i < got.digests.size(); ++i) {
    const uint64_t off = got.offsets.at(i);
    const uint64_t index = off / block;
    if (off % block != 0 || index >= want.size() || (last && off <= *last))
      throw ProtocolError(ErrorCode::kMalformed,
                          fmt::format("agent sent a verify digest for the block at {} (blocks of {}, image of {} "
                                      "bytes{})",
                                      off, block, image_size, last ? fmt::format(", after {}", *last) : ""));
    last = off;
    if (got.digests[i] == want[static_cast<size_t>(index)]) continue;
    const uint64_t end = std::min(image_size, off + block);
    if (!out.empty() && out.back().end == off)
      out.back().end = end;
    else
      out.push_back({off, end});
  }
  return out;
}

void sort_by_offset(AgentClient::VerifyReply& reply) {
  std::vector<size_t> order(reply.offsets.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return reply.offsets[a] < reply.offsets[b]; });
  AgentClient::VerifyReply sorted;
  sorted.end = reply.end;
  for (size_t i : order) {
    sorted.offsets.push_back(reply.offsets[i]);
    sorted.digests.push_back(reply.digests[i]);
  }
  reply = std::move(sorted);
}

std::string describe_ranges(const std::vector<ByteRange>& ranges) {
  std::string s;
  const size_t shown = std::min<size_t>(ranges.size(), 3);
  for (size_t i = 0; i < shown; ++i) {
    if (i > 0) s += i + 1 == ranges.size() ? " and " : ", ";
    s += fmt::format("[{}, {})", ranges[i].begin, ranges[i].end);
  }
  if (ranges.size() > shown) s += fmt::format(" and {} more ranges", ranges.size() - shown);
  return s;
}

RangeResender::RangeResender(OpenSource open, mkproto::HolesMode holes, uint64_t image_size)
    : open_(std::move(open)), holes_(holes), size_(image_size) {}

bool RangeResender::cache_covers(const std::vector<ByteRange>& ranges) const {
  for (const ByteRange& r : ranges) {
    auto it = std::find_if(cached_ranges_.begin(), cached_ranges_.end(),
                           [&](const ByteRange& c) { return c.begin <= r.begin && r.end <= c.end; });
    if (it == cached_ranges_.end()) return false;
  }
  return !ranges.empty();
}

namespace {
// The part of `e` inside [a, b) (e overlaps it).
source::Extent clip(const source::Extent& e, uint64_t a, uint64_t b) {
  source::Extent out;
  out.offset = std::max(e.offset, a);
  const uint64_t end = std::min(e.offset + e.length, b);
  out.length = end - out.offset;
  out.hole = e.hole;
  out.mapped = e.mapped;
  if (!e.hole)
    out.data.assign(e.data.begin() + static_cast<std::ptrdiff_t>(out.offset - e.offset),
                    e.data.begin() + static_cast<std::ptrdiff_t>(end - e.offset));
  return out;
}
}  // namespace

void RangeResender::send(AgentClient& client, const std::vector<ByteRange>& ranges, FrameSender& sender) {
  const bool from_cache = cache_covers(ranges);
  std::unique_ptr<source::ImageReader> reader;
  size_t ci = 0;            // next cache piece
  uint64_t returned_to = 0; // end of the last extent the reader gave
  // The next extent at or after `pos` (nullopt: the image ended).
  auto next = [&](uint64_t pos) -> std::optional<source::Extent> {
    if (from_cache) {
      while (ci < cache_.size() && cache_[ci].offset + cache_[ci].length <= pos) ++ci;
      if (ci == cache_.size()) return std::nullopt;
      return cache_[ci++];
    }
    source::Extent e;
    if (!reader->next(e)) return std::nullopt;
    returned_to = e.offset + e.length;
    return e;
  };
  if (!from_cache) {
    reader = open_();
    ++opens_;
  }
  std::vector<source::Extent> keep;
  uint64_t kept = 0;
  bool keeping = !from_cache;
  std::optional<source::Extent> cur;
  for (const ByteRange& r : ranges) {
    if (r.begin >= r.end || r.end > size_) throw std::logic_error("RangeResender: empty range or past the image");
    sender.flush();  // REPAIR goes after the previous range's last frame
    client.repair(r.begin, r.end - r.begin);
    if (cur && cur->offset + cur->length <= r.begin) cur.reset();
    if (!from_cache && !cur && r.begin >= returned_to + kSeekGap) reader->seek(r.begin);
    Planner plan(sender, holes_, nullptr, 4096, size_, r.begin);
    for (uint64_t pos = r.begin; pos < r.end;) {
      if (!cur || cur->offset + cur->length <= pos) cur = next(pos);
      if (!cur)
        throw source::SourceError(fmt::format("{}: the image ended at {} before the repair of [{}, {}) was read",
                                              reader ? reader->describe() : std::string("repair cache"), pos, r.begin,
                                              r.end));
      if (cur->offset + cur->length <= pos) continue;  // before the range (a reader restarts at extent boundaries)
      if (cur->offset > pos)
        throw source::SourceError(fmt::format("{}: extent at {} where {} was expected",
                                              reader ? reader->describe() : std::string("repair cache"), cur->offset,
                                              pos));
      source::Extent piece = clip(*cur, pos, r.end);
      if (piece.hole)
        plan.hole(piece.offset, piece.length, piece.mapped);
      else
        plan.data(piece.offset, piece.data);
      pos = piece.offset + piece.length;
      if (keeping) {
        kept += piece.data.size();
        if (kept > kCacheBytes) {
          keeping = false;
          keep.clear();
        } else {
          keep.push_back(std::move(piece));
        }
      }
    }
    plan.finish();
  }
  sender.flush();
  if (keeping) {
    cache_ = std::move(keep);
    cached_ranges_ = ranges;
  }
}

}  // namespace push
