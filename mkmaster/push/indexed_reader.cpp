#include "mkmaster/push/indexed_reader.h"

#include <fmt/core.h>

#include "mkmaster/source/range_fetcher.h"

namespace push {

namespace {
struct StopWalk {};
}  // namespace

IndexedReader::IndexedReader(std::shared_ptr<const source::ImageIndex> index, std::string url, std::string index_name,
                             DiskHashes& disk, std::shared_ptr<IndexFetchStats> stats, IndexedReaderLimits limits)
    : index_(std::move(index)), url_(std::move(url)), index_name_(std::move(index_name)), disk_(disk),
      stats_(std::move(stats)), limits_(limits) {
  if (disk_.kind() != mkproto::HashKind::kStrong)
    throw std::logic_error("IndexedReader: the target's hashes must be HashKind::kStrong");
}

IndexedReader::~IndexedReader() { stop(); }

void IndexedReader::stop() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  if (th_.joinable()) th_.join();
}

void IndexedReader::start(uint64_t block) {
  stop();
  queue_.clear();
  queued_bytes_ = 0;
  done_ = stop_ = false;
  error_ = nullptr;
  started_ = true;
  th_ = std::thread([this, block] { run(block); });
}

void IndexedReader::seek(uint64_t offset) {
  start_block_ = std::min(offset, index_->image_size) / index_->block;
  if (started_) start(start_block_);
}

bool IndexedReader::next(source::Extent& out) {
  if (!started_) start(start_block_);
  std::unique_lock lk(m_);
  cv_.wait(lk, [&] { return !queue_.empty() || done_; });
  if (queue_.empty()) {
    if (error_) std::rethrow_exception(error_);
    return false;
  }
  out = std::move(queue_.front());
  queue_.pop_front();
  queued_bytes_ -= out.data.size();
  cv_.notify_all();
  return true;
}

void IndexedReader::push_extent(source::Extent&& e) {
  std::unique_lock lk(m_);
  // Merge with the previous extent of the same kind (holes, kept runs).
  if (!queue_.empty() && e.hole && queue_.back().hole && queue_.back().kept == e.kept &&
      queue_.back().offset + queue_.back().length == e.offset) {
    queue_.back().length += e.length;
    cv_.notify_all();
    return;
  }
  cv_.wait(lk, [&] { return stop_ || queued_bytes_ < limits_.queued_bytes || queue_.empty(); });
  if (stop_) throw StopWalk{};
  queued_bytes_ += e.data.size();
  queue_.push_back(std::move(e));
  cv_.notify_all();
}

void IndexedReader::run(uint64_t first_block) noexcept {
  try {
    walk(first_block);
  } catch (const StopWalk&) {
  } catch (...) {
    std::lock_guard lk(m_);
    error_ = std::current_exception();
  }
  std::lock_guard lk(m_);
  done_ = true;
  cv_.notify_all();
}

// Walks the blocks in order. Zero and kept blocks wait in `pending` behind
// the changed blocks of the current batch, so extents leave in offset order;
// a batch is fetched when it is full or the image ends.
void IndexedReader::walk(uint64_t first_block) {
  const source::ImageIndex& ix = *index_;
  source::RangeFetcher fetcher(url_);
  struct Pending {
    source::Extent e;
    size_t range = SIZE_MAX;  // data: which fetched range holds its bytes
  };
  std::vector<Pending> pending;
  std::vector<source::ByteSpan> ranges;
  uint64_t batch_bytes = 0, counted = 0;
  auto flush = [&] {
    if (!ranges.empty()) {
      auto got = fetcher.fetch(ranges);
      for (size_t r = 0; r < ranges.size(); ++r) {
        // Each block against the index: the first that differs names the range.
        for (uint64_t off = ranges[r].begin; off < ranges[r].end; off += ix.block) {
          const uint64_t b = off / ix.block;
          const size_t len = static_cast<size_t>(ix.block_length(b));
          const uint8_t* p = got[r].data() + (off - ranges[r].begin);
          if (mkproto::strong_hash(p, len) != ix.hash_of(b))
            throw source::RangeMismatch(
                fmt::format("stale index {}: bytes [{}, {}) fetched from {} do not match it (block {}; first bad "
                            "range) — the image changed after the index was written; rebuild it with `mkmaster index`",
                            index_name_, off, off + len, url_, b),
                off, off + len);
        }
      }
      {
        std::lock_guard lk(stats_->m);
        stats_->body_bytes += fetcher.body_bytes() - counted;
        stats_->requests += 1;
        stats_->ranges += ranges.size();
        for (auto& r : ranges) stats_->block_bytes += r.end - r.begin;
      }
      counted = fetcher.body_bytes();  // cumulative per fetcher: each request counted once
      for (auto& p : pending)
        if (p.range != SIZE_MAX) {
          const auto& src = got[p.range];
          const uint64_t at = p.e.offset - ranges[p.range].begin;
          p.e.data.assign(src.begin() + static_cast<std::ptrdiff_t>(at),
                          src.begin() + static_cast<std::ptrdiff_t>(at + p.e.length));
        }
    }
    for (auto& p : pending) push_extent(std::move(p.e));
    pending.clear();
    ranges.clear();
    batch_bytes = 0;
  };
  for (uint64_t b = first_block; b < ix.blocks(); ++b) {
    const uint64_t off = b * ix.block, len = ix.block_length(b);
    source::Extent e;
    e.offset = off;
    e.length = len;
    if (!ix.has_data(b)) {
      e.hole = true;  // zeros: the planner compares them with the target's hash of zeros
    } else if (disk_.at(static_cast<size_t>(b)) == disk_.hash(ix.hash_of(b))) {
      e.hole = true;
      e.kept = true;
    } else {
      if (batch_bytes >= limits_.bytes_per_request) flush();
      if (!ranges.empty() && ranges.back().end == off) {
        ranges.back().end += len;
      } else {
        if (ranges.size() == limits_.ranges_per_request) flush();
        ranges.push_back({off, off + len});
      }
      batch_bytes += len;
      // Data extents of at most 1 MiB, as other sources give.
      if (!pending.empty() && pending.back().range == ranges.size() - 1 && pending.back().e.length < (1u << 20)) {
        pending.back().e.length += len;
        continue;
      }
      pending.push_back({std::move(e), ranges.size() - 1});
      continue;
    }
    if (ranges.empty()) {
      push_extent(std::move(e));  // nothing to fetch ahead of it
    } else {
      pending.push_back({std::move(e), SIZE_MAX});
    }
  }
  flush();
}

}  // namespace push
