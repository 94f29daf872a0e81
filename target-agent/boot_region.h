#pragma once
// The target's boot sectors during a push (docs/protocol.md, "Boot sectors
// last"): wiped when a new session opens, so an interrupted push leaves a
// disk that firmware will not boot; the image's own boot bytes held in
// memory as they arrive and written only at FINISH, once everything else
// is durable. The one place that knows about boot sectors: the writer asks
// it which bytes to hold, the connection asks it to wipe and to commit.
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "protocol/boot_layout.h"

namespace agent {

class BootRegion {
 public:
  BootRegion() = default;  // no target yet: holds nothing
  explicit BootRegion(mkproto::BootLayout layout) : layout_(layout) {}

  const mkproto::BootLayout& layout() const { return layout_; }
  // Until commit(): the part of [begin, end) to write now (the rest is
  // held). After commit() the whole range: later writes go straight to disk.
  std::pair<uint64_t, uint64_t> write_now(uint64_t begin, uint64_t end) const;

  // Zeroes head and tail on the target and fdatasyncs: nothing bootable
  // remains from the old disk. Throws ProtocolError(kIo) naming path and range.
  void wipe(int fd, const std::string& path);
  // Copies the bytes of [offset, offset + bytes.size()) that fall in a region.
  void hold(uint64_t offset, std::span<const uint8_t> bytes);
  // The bytes of [offset, offset + length) that fall in a region become zeros.
  void hold_zeros(uint64_t offset, uint64_t length);
  // A session restarting at `at` re-sends everything from there: held bytes
  // from `at` on go back to what the disk holds there since the wipe (zeros).
  void restart_at(uint64_t at);
  // Writes the held bytes that lie in [0, image_size) — the tail first, the
  // head (MBR, primary GPT) last — and fdatasyncs. The caller has made
  // everything else durable. Idempotent. Throws ProtocolError(kIo).
  void commit(int fd, uint64_t image_size, const std::string& path);
  // Until commit(): overlays the held bytes of [offset, offset + out.size())
  // on `out` (read from the disk, which has zeros there since the wipe), so
  // a relay catch-up sends the image's boot bytes, not the wipe's.
  void copy_held(uint64_t offset, std::span<uint8_t> out) const;
  bool wiped() const { return wiped_; }
  bool committed() const { return committed_; }
  // Bytes held in memory now (0 before the first boot byte and after commit).
  size_t held_bytes() const { return head_.size() + tail_.size(); }

 private:
  // Calls f(buffer, device_offset, n) for each overlap of [offset, offset +
  // length) with a region's buffer, growing the buffer to reach it; for
  // zeros, only where the buffer already is (the wiped disk is zeros past it).
  template <typename F>
  void each_overlap(uint64_t offset, uint64_t length, F f, bool zeros = false);

  mkproto::BootLayout layout_;
  bool wiped_ = false;
  bool committed_ = false;
  // [0, head_.size()) with head_.size() <= head_end, grown as boot bytes
  // arrive; [tail_begin, device_size) once the tail gets data. Empty until needed.
  std::vector<uint8_t> head_, tail_;
};

}  // namespace agent
