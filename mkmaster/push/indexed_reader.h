#pragma once
// The image as an index and the target's hashes show it (docs/index.md):
// blocks the target already holds come out as kept extents (no bytes), the
// image's zero blocks as holes, and only the changed blocks are fetched from
// the server — coalesced into ranges, many ranges per request on one
// keep-alive connection, in a thread that runs ahead of the push. Every
// fetched block is checked against the index before next() returns it: a
// mismatch is a stale index (source::RangeMismatch naming the first bad
// range), so nothing the index does not describe is ever sent.
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "mkmaster/push/planner.h"
#include "mkmaster/source/image_index.h"
#include "mkmaster/source/image_reader.h"

namespace push {

struct IndexFetchStats {
  std::mutex m;
  uint64_t body_bytes = 0;     // HTTP response bodies (multipart headers included)
  uint64_t block_bytes = 0;    // bytes of the blocks fetched
  uint64_t ranges = 0;         // coalesced ranges asked for
  int requests = 0;
};

struct IndexedReaderLimits {
  size_t ranges_per_request = 200;            // keeps the Range header under ~5 KB (servers cap at 8 KB)
  uint64_t bytes_per_request = 8u << 20;
  size_t queued_bytes = 32u << 20;            // fetched ahead of the push at most
};

class IndexedReader final : public source::ImageReader {
 public:
  // disk: the target's hashes (HashKind::kStrong), asked for over the whole
  // image; the reader waits for them as the planner does.
  IndexedReader(std::shared_ptr<const source::ImageIndex> index, std::string url, std::string index_name,
                DiskHashes& disk, std::shared_ptr<IndexFetchStats> stats, IndexedReaderLimits limits = {});
  ~IndexedReader() override;

  bool next(source::Extent& out) override;
  std::optional<uint64_t> size() const override { return index_->image_size; }
  void seek(uint64_t offset) override;
  std::string describe() const override { return url_ + " (through its index " + index_name_ + ")"; }

 private:
  void start(uint64_t block);
  void stop();
  void run(uint64_t first_block) noexcept;
  void walk(uint64_t first_block);
  void push_extent(source::Extent&& e);

  const std::shared_ptr<const source::ImageIndex> index_;
  const std::string url_, index_name_;
  DiskHashes& disk_;
  const std::shared_ptr<IndexFetchStats> stats_;
  const IndexedReaderLimits limits_;
  uint64_t start_block_ = 0;
  bool started_ = false;

  std::mutex m_;
  std::condition_variable cv_;
  std::deque<source::Extent> queue_;
  size_t queued_bytes_ = 0;
  bool done_ = false, stop_ = false;
  std::exception_ptr error_;
  std::thread th_;
};

}  // namespace push
