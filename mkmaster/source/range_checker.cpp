#include "mkmaster/source/range_checker.h"

namespace source {

namespace {
constexpr size_t kBatch = 1u << 20;      // bytes per queued item
constexpr size_t kMaxQueued = 8u << 20;  // the producer waits beyond this
}  // namespace

RangeChecker::RangeChecker(const std::string& algorithm, std::function<const std::string&(size_t)> expected,
                           std::function<RangeMismatch(size_t, const std::string&)> mismatch)
    : digest_(algorithm), expected_(std::move(expected)), mismatch_(std::move(mismatch)) {
  th_ = std::thread([this] { run(); });
}

RangeChecker::~RangeChecker() {
  {
    std::lock_guard lk(m_);
    stop_ = true;
  }
  cv_.notify_all();
  th_.join();
}

void RangeChecker::begin(size_t range) {
  flush_pending();
  push({Item::kBegin, range, {}});
}

void RangeChecker::update(const uint8_t* p, size_t n) {
  pending_.insert(pending_.end(), p, p + n);
  if (pending_.size() >= kBatch) flush_pending();
}

void RangeChecker::end(size_t range) {
  flush_pending();
  push({Item::kEnd, range, {}});
}

void RangeChecker::flush_pending() {
  if (pending_.empty()) return;
  Item item{Item::kData, 0, std::move(pending_)};
  pending_ = {};
  pending_.reserve(kBatch);
  push(std::move(item));
}

void RangeChecker::push(Item item) {
  std::unique_lock lk(m_);
  cv_.wait(lk, [&] { return q_bytes_ < kMaxQueued || stop_; });
  q_bytes_ += item.bytes.size();
  q_.push_back(std::move(item));
  cv_.notify_all();
}

void RangeChecker::rethrow() {
  std::lock_guard lk(m_);
  if (error_) throw *error_;
}

void RangeChecker::drain() {
  flush_pending();
  {
    std::unique_lock lk(m_);
    cv_.wait(lk, [&] { return (q_.empty() && !busy_) || stop_; });
  }
  rethrow();
}

void RangeChecker::run() {
  bool open = false;  // a range is being hashed
  size_t range = 0;
  for (;;) {
    Item item;
    {
      std::unique_lock lk(m_);
      busy_ = false;
      cv_.notify_all();
      cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
      if (stop_) return;
      item = std::move(q_.front());
      q_.pop_front();
      q_bytes_ -= item.bytes.size();
      busy_ = true;
      cv_.notify_all();
    }
    switch (item.kind) {
      case Item::kBegin:
        digest_.reset();
        open = true;
        range = item.range;
        break;
      case Item::kData:
        if (open) digest_.update(item.bytes.data(), item.bytes.size());
        break;
      case Item::kEnd:
        if (open && item.range == range) {
          std::string got = digest_.hex();
          if (got != expected_(range)) {
            std::lock_guard lk(m_);
            if (!error_) error_ = mismatch_(range, got);
          }
        }
        open = false;
        break;
    }
  }
}

}  // namespace source
