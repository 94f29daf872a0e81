#include "mkmaster/push/planner.h"

#include <fmt/core.h>

#include <stdexcept>

namespace push {

Planner::Planner(FrameSink& sink, mkproto::HolesMode holes, DiskHashes* disk_hashes,
                 uint32_t delta_block, uint64_t image_size, uint64_t start)
    : sink_(sink), holes_(holes), disk_(disk_hashes), block_(delta_block), size_(image_size), pos_(start) {
  if (disk_ && start % block_ != 0) throw std::logic_error("Planner: delta start not block-aligned");
}

RangeKind Planner::hole_kind(bool mapped) const {
  return holes_ == mkproto::HolesMode::kSkip && !mapped ? RangeKind::kDontCare : RangeKind::kZero;
}

uint64_t Planner::zero_hash(uint64_t length) {
  if (length != zero_hash_len_) {
    std::vector<uint8_t> z(static_cast<size_t>(length), 0);
    zero_hash_ = disk_->hash(z);
    zero_hash_len_ = length;
  }
  return zero_hash_;
}

void Planner::data(uint64_t offset, std::span<const uint8_t> bytes) {
  if (offset != pos_) throw std::logic_error(fmt::format("Planner: data at {} but position is {}", offset, pos_));
  if (!disk_) {
    sink_.data(offset, bytes);
    pos_ += bytes.size();
    return;
  }
  while (!bytes.empty()) {
    uint64_t room = block_ - pos_ % block_;
    size_t n = static_cast<size_t>(std::min<uint64_t>(room, bytes.size()));
    if (cur_.empty() && pos_ % block_ == 0 && (n == block_ || pos_ + n == size_)) {
      // A whole block of data (the common case): hashed and passed on in
      // place, without the copy a block shared with a hole needs.
      size_t b = static_cast<size_t>(pos_ / block_);
      auto block = bytes.first(n);
      if (disk_->at(b) == disk_->hash(block))
        sink_.kept(pos_, block);
      else
        sink_.data(pos_, block);
      pos_ += n;
    } else {
      append(pos_, n, bytes.data(), false);
    }
    bytes = bytes.subspan(n);
  }
}

void Planner::hole(uint64_t offset, uint64_t length, bool mapped) {
  if (offset != pos_) throw std::logic_error(fmt::format("Planner: hole at {} but position is {}", offset, pos_));
  const RangeKind kind = hole_kind(mapped);
  if (!disk_) {
    sink_.range(kind, offset, length);
    pos_ += length;
    return;
  }
  uint64_t end = offset + length;
  while (pos_ < end) {
    uint64_t n = std::min<uint64_t>(block_ - pos_ % block_, end - pos_);
    bool whole = pos_ % block_ == 0 && (n == block_ || end == size_);
    if (!whole) {
      append(pos_, n, nullptr, kind == RangeKind::kDontCare);  // shares its block with data: buffered
      continue;
    }
    // A block that is all hole: compare with the target's hash of zeros,
    // no buffering (holes can be gigabytes).
    size_t b = static_cast<size_t>(pos_ / block_);
    RangeKind k = kind;
    if (k == RangeKind::kZero && disk_->at(b) == zero_hash(n)) k = RangeKind::kKeep;
    sink_.range(k, pos_, n);
    pos_ += n;
  }
}

void Planner::keep(uint64_t offset, uint64_t length) {
  if (offset != pos_) throw std::logic_error(fmt::format("Planner: keep at {} but position is {}", offset, pos_));
  if (!disk_ || !cur_.empty() || offset % block_ != 0 || ((offset + length) % block_ != 0 && offset + length != size_))
    throw std::logic_error(fmt::format("Planner: keep [{}, {}) is not whole delta blocks", offset, offset + length));
  sink_.range(RangeKind::kKeep, offset, length);
  pos_ += length;
}

void Planner::append(uint64_t offset, uint64_t length, const uint8_t* bytes, bool dont_care) {
  Segment s{offset, length, bytes != nullptr, dont_care, {}};
  if (bytes) s.bytes.assign(bytes, bytes + length);
  cur_.push_back(std::move(s));
  pos_ = offset + length;
  if (pos_ % block_ == 0 || pos_ == size_) resolve_block();
}

void Planner::resolve_block() {
  if (cur_.empty()) return;
  bool all_dont_care = true;
  for (auto& s : cur_) all_dont_care = all_dont_care && s.dont_care;
  bool same = false;
  if (!all_dont_care) {
    // The block as it should land (holes as zeros) against the target's.
    // The block as it should land (holes as zeros), whole: the keyed hash
    // has no streaming form, and a block is at most kMaxBlock.
    std::vector<uint8_t> bytes;
    for (auto& s : cur_) {
      if (s.is_data)
        bytes.insert(bytes.end(), s.bytes.begin(), s.bytes.end());
      else
        bytes.resize(bytes.size() + static_cast<size_t>(s.length), 0);
    }
    size_t b = static_cast<size_t>(cur_.front().offset / block_);
    same = disk_->at(b) == disk_->hash(bytes);
  }
  for (auto& s : cur_) {
    if (s.dont_care)
      sink_.range(RangeKind::kDontCare, s.offset, s.length);
    else if (same && s.is_data)
      sink_.kept(s.offset, s.bytes);
    else if (same)
      sink_.range(RangeKind::kKeep, s.offset, s.length);
    else if (s.is_data)
      sink_.data(s.offset, s.bytes);
    else
      sink_.range(RangeKind::kZero, s.offset, s.length);
  }
  cur_.clear();
}

void Planner::finish() {
  if (!cur_.empty()) resolve_block();
}

}  // namespace push
