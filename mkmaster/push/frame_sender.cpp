#include "mkmaster/push/frame_sender.h"

#include <algorithm>

namespace push {

FrameSender::FrameSender(AgentClient& client, bool compress, SendCounts& counts,
                         std::function<void(uint64_t)> after_send)
    : c_(client), n_(counts), after_send_(std::move(after_send)) {
  if (compress) cctx_ = ZSTD_createCCtx();
}

FrameSender::~FrameSender() { ZSTD_freeCCtx(cctx_); }

void FrameSender::data(uint64_t offset, std::span<const uint8_t> bytes) {
  flush_range();
  while (!bytes.empty()) {
    if (!buf_.empty() && (buf_off_ + buf_.size() != offset || buf_.size() == kFrameData)) flush_data();
    if (buf_.empty()) buf_off_ = offset;
    size_t n = std::min(bytes.size(), kFrameData - buf_.size());
    buf_.insert(buf_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    offset += n;
    bytes = bytes.subspan(n);
  }
}

void FrameSender::range(RangeKind kind, uint64_t offset, uint64_t length) {
  flush_data();
  if (pending_ && pending_kind_ == kind && pending_off_ + pending_len_ == offset) {
    pending_len_ += length;
    return;
  }
  flush_range();
  pending_ = true;
  pending_kind_ = kind;
  pending_off_ = offset;
  pending_len_ = length;
}

void FrameSender::flush() {
  flush_data();
  flush_range();
}

void FrameSender::flush_data() {
  if (buf_.empty()) return;
  uint16_t flags = 0;
  std::span<const uint8_t> payload = buf_;
  if (cctx_) {
    z_.resize(ZSTD_compressBound(buf_.size()));
    size_t n = ZSTD_compressCCtx(cctx_, z_.data(), z_.size(), buf_.data(), buf_.size(), 1);
    // Only where it pays: the agent's CPU is the scarcer one.
    if (!ZSTD_isError(n) && n < buf_.size() * 9 / 10) {
      flags = mkproto::kFlagZstd;
      payload = {z_.data(), n};
    }
  }
  c_.send_data(buf_off_, flags, payload);
  n_.bytes_sent += buf_.size();
  n_.data_bytes += fresh(buf_off_, buf_.size());
  uint64_t end = buf_off_ + buf_.size();
  buf_.clear();
  after_send_(end);
}

void FrameSender::flush_range() {
  if (!pending_) return;
  pending_ = false;
  switch (pending_kind_) {
    case RangeKind::kZero:
      c_.send_zero(pending_off_, pending_len_);
      n_.hole_bytes += fresh(pending_off_, pending_len_);
      break;
    case RangeKind::kDontCare:
      c_.send_skip(pending_off_, pending_len_, mkproto::SkipReason::kDontCare);
      n_.hole_bytes += fresh(pending_off_, pending_len_);
      break;
    case RangeKind::kKeep:
      c_.send_skip(pending_off_, pending_len_, mkproto::SkipReason::kKeep);
      n_.kept_bytes += fresh(pending_off_, pending_len_);
      break;
  }
  after_send_(pending_off_ + pending_len_);
}

// Bytes of [off, off+len) not counted by an earlier (interrupted) pass:
// the summary describes the image once, however often parts were resent.
uint64_t FrameSender::fresh(uint64_t off, uint64_t len) {
  uint64_t end = off + len;
  if (end <= n_.counted_to) return 0;
  uint64_t n = end - std::max(off, n_.counted_to);
  n_.counted_to = end;
  return n;
}

}  // namespace push
