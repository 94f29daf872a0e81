#include "target-agent/boot_region.h"

#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "protocol/errors.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

namespace {

void pwrite_all(int fd, const uint8_t* p, uint64_t n, uint64_t off, const std::string& path, const char* what) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, static_cast<size_t>(n), static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      throw ProtocolError(ErrorCode::kIo, fmt::format("{} {} at offset {}: {}", what, path, off,
                                                      w < 0 ? std::strerror(errno) : "no progress (device full?)"));
    p += w;
    n -= static_cast<uint64_t>(w);
    off += static_cast<uint64_t>(w);
  }
}

// From one static page of zeros, which costs no memory: it is never written.
void write_zeros(int fd, uint64_t off, uint64_t n, const std::string& path, const char* what) {
  static const uint8_t zeros[64u << 10] = {};
  while (n > 0) {
    const uint64_t step = std::min<uint64_t>(n, sizeof zeros);
    pwrite_all(fd, zeros, step, off, path, what);
    off += step;
    n -= step;
  }
}

void sync(int fd, const std::string& path, const char* what) {
  if (::fdatasync(fd) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("fdatasync {} after {}: {}", path, what, std::strerror(errno)));
}

}  // namespace

std::pair<uint64_t, uint64_t> BootRegion::write_now(uint64_t begin, uint64_t end) const {
  if (committed_) return {begin, end};
  return layout_.outside(begin, end);
}

template <typename F>
void BootRegion::each_overlap(uint64_t offset, uint64_t length, F f, bool zeros) {
  const uint64_t end = offset + length;
  if (offset < layout_.head_end) {
    const uint64_t e = std::min(end, layout_.head_end);
    // The head grows only as far as the image's boot bytes reach (an MBR
    // alone: one 64 KiB step, not the whole MiB). Beyond its end the
    // wiped disk already holds the zeros.
    if (e > head_.size() && !zeros) {
      constexpr uint64_t kStep = 64u << 10;
      head_.resize(static_cast<size_t>(std::min(layout_.head_end, (e + kStep - 1) / kStep * kStep)));
    }
    if (offset < head_.size()) f(head_.data() + offset, offset, std::min<uint64_t>(e, head_.size()) - offset);
  }
  if (end > layout_.tail_begin && layout_.tail_begin < layout_.device_size) {
    if (tail_.empty() && zeros) return;  // the wiped tail is zeros already
    if (tail_.empty()) tail_.resize(static_cast<size_t>(layout_.device_size - layout_.tail_begin));
    const uint64_t b = std::max(offset, layout_.tail_begin);
    const uint64_t e = std::min(end, layout_.device_size);
    if (b < e) f(tail_.data() + (b - layout_.tail_begin), b, e - b);
  }
}

void BootRegion::wipe(int fd, const std::string& path) {
  wiped_ = committed_ = false;
  head_.clear();
  tail_.clear();
  // The backup GPT first: cut short between the two, the disk is the old
  // system with its backup table gone, never an old backup table that a
  // firmware would fall back to beside a wiped primary.
  write_zeros(fd, layout_.tail_begin, layout_.device_size - layout_.tail_begin, path, "wiping the backup GPT of");
  sync(fd, path, "wiping the backup GPT");
  write_zeros(fd, 0, layout_.head_end, path, "wiping the boot sectors [0, head) of");
  sync(fd, path, "wiping the boot sectors");
  wiped_ = true;
}

void BootRegion::hold(uint64_t offset, std::span<const uint8_t> bytes) {
  if (committed_) return;
  each_overlap(offset, bytes.size(), [&](uint8_t* dst, uint64_t dev_off, uint64_t n) {
    std::memcpy(dst, bytes.data() + (dev_off - offset), static_cast<size_t>(n));
  });
}

void BootRegion::hold_zeros(uint64_t offset, uint64_t length) {
  if (committed_) return;
  each_overlap(
      offset, length, [](uint8_t* dst, uint64_t, uint64_t n) { std::memset(dst, 0, static_cast<size_t>(n)); }, true);
}

void BootRegion::copy_held(uint64_t offset, std::span<uint8_t> out) const {
  if (committed_) return;
  const uint64_t end = offset + out.size();
  if (offset < head_.size()) {
    const uint64_t e = std::min<uint64_t>(end, head_.size());
    std::memcpy(out.data(), head_.data() + offset, static_cast<size_t>(e - offset));
  }
  if (!tail_.empty() && end > layout_.tail_begin) {
    const uint64_t b = std::max(offset, layout_.tail_begin);
    const uint64_t e = std::min(end, layout_.device_size);
    if (b < e) std::memcpy(out.data() + (b - offset), tail_.data() + (b - layout_.tail_begin), static_cast<size_t>(e - b));
  }
}

void BootRegion::restart_at(uint64_t at) {
  if (committed_) return;
  if (at < head_.size())
    std::fill(head_.begin() + static_cast<std::ptrdiff_t>(at), head_.end(), 0);
  if (!tail_.empty()) {
    const uint64_t from = std::max(at, layout_.tail_begin) - layout_.tail_begin;
    if (from < tail_.size()) std::fill(tail_.begin() + static_cast<std::ptrdiff_t>(from), tail_.end(), 0);
  }
}

void BootRegion::commit(int fd, uint64_t image_size, const std::string& path) {
  if (committed_) return;
  // Tail first: should the head's write be cut short, the disk still has no
  // valid primary table, and the backup written here describes an image
  // that is complete everywhere else.
  if (!tail_.empty() && image_size > layout_.tail_begin) {
    const uint64_t n = std::min(image_size, layout_.device_size) - layout_.tail_begin;
    pwrite_all(fd, tail_.data(), n, layout_.tail_begin, path, "writing the backup GPT of");
    sync(fd, path, "writing the backup GPT");
  }
  if (!head_.empty()) {
    // Past the held bytes the wiped disk holds zeros, as the image does.
    const uint64_t n = std::min<uint64_t>(image_size, head_.size());
    pwrite_all(fd, head_.data(), n, 0, path, "writing the boot sectors of");
    sync(fd, path, "writing the boot sectors");
  }
  committed_ = true;
  // The buffers are no longer needed: after commit writes go to the disk.
  std::vector<uint8_t>().swap(head_);
  std::vector<uint8_t>().swap(tail_);
}

}  // namespace agent
