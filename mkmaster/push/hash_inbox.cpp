#include "mkmaster/push/hash_inbox.h"

#include <fmt/core.h>

#include "protocol/errors.h"

namespace push {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

HashInbox::HashInbox(uint32_t block, std::chrono::milliseconds timeout, const mkproto::DeltaKey& key,
                     mkproto::HashKind kind)
    : DiskHashes(key, kind), block_(block), timeout_(timeout) {}

void HashInbox::expect(uint64_t end) {
  std::lock_guard lk(m_);
  if (end <= requested_) throw std::logic_error(fmt::format("HashInbox: asked up to {} after {}", end, requested_));
  requested_ = end;
  count_ = static_cast<size_t>((end + block_ - 1) / block_);
  hashes_.reserve(count_);
  ++ends_due_;
  complete_ = false;
}

uint64_t HashInbox::requested() const {
  std::lock_guard lk(m_);
  return requested_;
}

uint64_t HashInbox::at(size_t b) {
  std::unique_lock lk(m_);
  if (b >= count_) throw std::logic_error(fmt::format("HashInbox: block {} of the {} asked for", b, count_));
  if (b < hashes_.size()) return hashes_[b];
  const auto t0 = std::chrono::steady_clock::now();
  while (b >= hashes_.size()) {
    if (error_) std::rethrow_exception(error_);
    size_t had = hashes_.size();
    if (!cv_.wait_for(lk, timeout_, [&] { return hashes_.size() > had || error_; }))
      throw mkproto::ConnectionClosed(
          fmt::format("no delta hashes from the agent for {} ms (have {} of {})", timeout_.count(), had, count_));
  }
  waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return hashes_[b];
}

bool HashInbox::complete() const {
  std::lock_guard lk(m_);
  return complete_;
}

double HashInbox::waited_seconds() const {
  std::lock_guard lk(m_);
  return waited_;
}

uint64_t HashInbox::restart() {
  std::lock_guard lk(m_);
  error_ = nullptr;
  // The requests of the dropped connection will not be answered; the
  // caller asks again for [restart(), requested()).
  ends_due_ = 0;
  requested_ = uint64_t{block_} * hashes_.size();
  count_ = hashes_.size();
  return requested_;
}

void HashInbox::add(uint64_t offset, std::span<const uint64_t> hashes) {
  std::lock_guard lk(m_);
  uint64_t want = uint64_t{block_} * hashes_.size();
  if (offset != want)
    throw ProtocolError(ErrorCode::kMalformed, fmt::format("HASHES at {} where {} was expected", offset, want));
  if (hashes.size() > count_ - hashes_.size())
    throw ProtocolError(ErrorCode::kMalformed,
                        fmt::format("agent sent more than the {} block hashes asked for [0, {})", count_, requested_));
  hashes_.insert(hashes_.end(), hashes.begin(), hashes.end());
  cv_.notify_all();
}

void HashInbox::end() {
  std::lock_guard lk(m_);
  if (ends_due_ == 0) throw ProtocolError(ErrorCode::kMalformed, "HASHES_END without a HASH_REQUEST");
  if (--ends_due_ > 0) return;  // later requests are still being answered
  if (hashes_.size() != count_)
    throw ProtocolError(ErrorCode::kMalformed, fmt::format("agent sent {} block hashes for [0, {}) ({} expected)",
                                                           hashes_.size(), requested_, count_));
  complete_ = true;
  cv_.notify_all();
}

void HashInbox::fail(std::exception_ptr e) {
  std::lock_guard lk(m_);
  if (complete_ || error_) return;
  error_ = std::move(e);
  cv_.notify_all();
}

}  // namespace push
