// REPAIR on the agent: after FINISHED the host rewrites the verify blocks
// that read back wrong (docs/protocol.md, "Repair").
#include <fmt/core.h>

#include "target-agent/connection.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::ProtocolError;

void Connection::on_repair(const Frame& f) {
  require_session(f);
  auto r = mkproto::decode<mkproto::Repair>(f);
  require_no_early_verify("REPAIR");
  if (!sessions_.finished(*session_))
    throw ProtocolError(ErrorCode::kUnexpected,
                        fmt::format("frame {}: REPAIR before the session is FINISHED", f.seq));
  const uint64_t size = session_->known_size;
  if (r.offset > size || r.length > size - r.offset)
    throw ProtocolError(ErrorCode::kOutOfRange, fmt::format("frame {}: REPAIR [{}, {}) reaches past the image size {}",
                                                            f.seq, r.offset, r.offset + r.length, size));
  if (in_repair_) {
    require_repair_covered("REPAIR");
    if (r.offset < repairing_.back().end)
      throw ProtocolError(ErrorCode::kOutOfOrder,
                          fmt::format("frame {}: REPAIR [{}, {}) starts before the previous one ended at {}", f.seq,
                                      r.offset, r.offset + r.length, repairing_.back().end));
  } else {
    // A writer of its own: it jumps from range to range, so its watermark
    // means nothing, and it sends no ACKs. The image as a whole stays
    // durable [0, size) for a resume: the bytes being rewritten read back
    // wrong already.
    writer_->stop();
    writer_ = std::make_unique<TargetWriter>(target_fd_, block_device_, sector_, r.offset, nullptr);
    repairing_.clear();
    repaired_.clear();
    in_repair_ = true;
  }
  repairing_.push_back({r.offset, r.offset + r.length});
  next_offset_ = r.offset;
  fmt::print(stderr, "target-agent: repairing [{}, {}) of {}\n", r.offset, r.offset + r.length, session_->path);
}

// Each placement frame of a round lies inside its range, in order, with
// no gap: the same rule as the first pass, per range.
void Connection::check_in_repair(const Frame& f, uint64_t length) {
  const ByteRange& r = repairing_.back();
  if (f.offset != *next_offset_)
    throw ProtocolError(ErrorCode::kOutOfOrder,
                        fmt::format("frame {}: {} at {} in the repair of [{}, {}), where {} was expected", f.seq,
                                    type_name(f.type), f.offset, r.start, r.end, *next_offset_));
  if (length > r.end - f.offset)
    throw ProtocolError(ErrorCode::kOutOfRange,
                        fmt::format("frame {}: {} [{}, {}) reaches past the repair of [{}, {})", f.seq,
                                    type_name(f.type), f.offset, f.offset + length, r.start, r.end));
  next_offset_ = f.offset + length;
}

void Connection::require_repair_covered(const char* what) const {
  const ByteRange& r = repairing_.back();
  if (*next_offset_ != r.end)
    throw ProtocolError(ErrorCode::kIncomplete, fmt::format("{} while the repair of [{}, {}) is covered only to {}",
                                                            what, r.start, r.end, *next_offset_));
}

// After the round's writes are synced: back to a writer at the image's end,
// so the session's watermark stays the whole image.
uint64_t Connection::end_repair() {
  writer_->stop();
  const uint64_t size = session_->known_size;
  writer_ = std::make_unique<TargetWriter>(target_fd_, block_device_, sector_, size, [this](uint64_t d, uint64_t a) {
    ch_.send(mkproto::encode(mkproto::Ack{d, a}));
  });
  repaired_ = std::move(repairing_);
  repairing_.clear();
  in_repair_ = false;
  next_offset_ = size;
  return size;
}

}  // namespace agent
