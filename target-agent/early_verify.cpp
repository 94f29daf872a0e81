#include "target-agent/early_verify.h"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>

#include "protocol/codec.h"
#include "protocol/errors.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

EarlyVerifier::EarlyVerifier(std::unique_ptr<ReadBack> reader, Setup setup, std::function<uint64_t()> durable,
                             mkproto::Channel& ch)
    : rb_(std::move(reader)), setup_(std::move(setup)), durable_(std::move(durable)), ch_(ch),
      finished_(setup_.finished), size_(setup_.image_size) {
  for (const ByteRange& r : setup_.dont_care) dont_care_.add(r.start, r.end);
  for (const ByteRange& r : setup_.kept) kept_.add(r.start, r.end);
  th_ = std::thread([this] { run(); });
}

EarlyVerifier::~EarlyVerifier() { stop({}); }

void EarlyVerifier::placed(uint64_t offset, uint64_t length, std::optional<mkproto::SkipReason> skip) {
  std::lock_guard lk(m_);
  if (!started_) {
    // The first frame after OPEN restarts the session here (the connection
    // truncated its own lists the same way): what follows is rewritten.
    dont_care_.truncate(offset);
    kept_.truncate(offset);
    started_ = true;
  }
  if (skip == mkproto::SkipReason::kDontCare) dont_care_.add(offset, offset + length);
  if (skip == mkproto::SkipReason::kKeep) kept_.add(offset, offset + length);
  cv_.notify_all();
}

void EarlyVerifier::finished(uint64_t image_size) {
  std::lock_guard lk(m_);
  finished_ = true;
  size_ = image_size;
  cv_.notify_all();
}

bool EarlyVerifier::done(std::chrono::milliseconds wait) const {
  std::unique_lock lk(m_);
  return cv_.wait_for(lk, wait, [&] { return done_; });
}

void EarlyVerifier::stop(const std::function<void()>& unblock) {
  std::unique_lock lk(m_);
  stop_ = true;
  cv_.notify_all();
  if (!cv_.wait_for(lk, std::chrono::seconds(1), [&] { return done_; }) && unblock) {
    lk.unlock();
    unblock();
  } else {
    lk.unlock();
  }
  if (th_.joinable()) th_.join();
}

std::vector<ByteRange> EarlyVerifier::excluded_now() {
  std::lock_guard lk(m_);
  return setup_.scope == mkproto::VerifyScope::kWritten ? merge_ranges(dont_care_.ranges(), kept_.ranges())
                                                        : dont_care_.ranges();
}

void EarlyVerifier::run() noexcept {
  try {
    work();
  } catch (const ProtocolError& e) {
    fmt::print(stderr, "target-agent: verify: {}\n", e.what());
    try {
      ch_.send(mkproto::encode(mkproto::ErrorMsg{e.code, durable_(), e.detail}));
    } catch (const std::exception&) {
    }
  } catch (const std::exception& e) {
    // The connection went away, or the host took nothing for the send
    // deadline: end it, so the receiver does not wait for its idle timeout.
    fmt::print(stderr, "target-agent: verify: {}\n", e.what());
    ch_.shutdown();
  }
  std::lock_guard lk(m_);
  done_ = true;
  cv_.notify_all();
}

void EarlyVerifier::work() {
  const uint64_t block = setup_.block;
  // Blocks that touch the boot sectors hold what the writer keeps back
  // until FINISH: [0, head) and [tail, …) are read after it.
  const uint64_t head = (setup_.boot.head_end + block - 1) / block * block;
  const uint64_t tail = setup_.boot.tail_begin / block * block;
  uint64_t cursor = head;  // [head, cursor) is read back and its DIGESTS sent
  bool overlapped = false;
  for (;;) {
    uint64_t limit = 0;
    {
      std::unique_lock lk(m_);
      // Woken by a new frame or FINISH; the durable watermark moves in the
      // writer's thread, so look at it at least every 20 ms.
      cv_.wait_for(lk, std::chrono::milliseconds(20), [&] { return stop_ || finished_; });
      if (stop_) return;
      if (finished_) break;
      if (setup_.defer || !started_) continue;
      limit = std::min(durable_() / block * block, tail);
      if (size_ != mkproto::kImageSizeUnknown) limit = std::min(limit, size_);
    }
    if (limit > cursor) {
      rb_->range(cursor, limit, excluded_now());
      cursor = limit;
      overlapped = true;
    }
  }
  uint64_t size = 0;
  {
    std::lock_guard lk(m_);
    size = size_;
  }
  const std::vector<ByteRange> excluded = excluded_now();
  const uint64_t head_part = std::min(head, size);
  if (head_part > 0) rb_->range(0, head_part, excluded);
  if (cursor < size) rb_->range(cursor, size, excluded);
  mkproto::VerifyEnd ve = rb_->end();
  ve.overlapped = overlapped;
  ch_.send(mkproto::encode(ve));
}

}  // namespace agent
