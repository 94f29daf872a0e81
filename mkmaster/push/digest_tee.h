#pragma once
// Between the planner and the frame sender: feeds the verify digester with
// every planned range — the image as it should land, less what VERIFY
// leaves out — and passes on what lies at or after `send_from` (after a
// resume, the bytes before it were sent by an earlier connection and are
// only read again to rebuild the digest of their verify block).
#include <algorithm>
#include <cstdint>
#include <span>

#include "mkmaster/push/planner.h"
#include "protocol/block_digest.h"

namespace push {

class DigestTee : public FrameSink {
 public:
  DigestTee(FrameSink& out, mkproto::BlockDigester& dig, bool digest_kept, uint64_t send_from)
      : out_(out), dig_(dig), digest_kept_(digest_kept), send_from_(send_from) {}

  void data(uint64_t offset, std::span<const uint8_t> bytes) override {
    dig_.data(offset, bytes);
    if (uint64_t cut = unsent(offset, bytes.size()); cut < bytes.size()) out_.data(offset + cut, bytes.subspan(cut));
  }
  void kept(uint64_t offset, std::span<const uint8_t> bytes) override {
    digest_kept_ ? dig_.data(offset, bytes) : dig_.dont_care(offset, bytes.size());
    if (uint64_t cut = unsent(offset, bytes.size()); cut < bytes.size()) out_.kept(offset + cut, bytes.subspan(cut));
  }
  void range(RangeKind kind, uint64_t offset, uint64_t length) override {
    switch (kind) {
      case RangeKind::kZero: dig_.zeros(offset, length); break;
      case RangeKind::kDontCare: dig_.dont_care(offset, length); break;
      case RangeKind::kKeep:  // a hole of the image the target already holds as zeros
        digest_kept_ ? dig_.zeros(offset, length) : dig_.dont_care(offset, length);
        break;
    }
    if (uint64_t cut = unsent(offset, length); cut < length) out_.range(kind, offset + cut, length - cut);
  }

 private:
  // How many leading bytes of [offset, offset+length) lie before send_from.
  uint64_t unsent(uint64_t offset, uint64_t length) const {
    return send_from_ <= offset ? 0 : std::min(length, send_from_ - offset);
  }
  FrameSink& out_;
  mkproto::BlockDigester& dig_;
  bool digest_kept_;
  uint64_t send_from_;
};

}  // namespace push
