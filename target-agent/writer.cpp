#include "target-agent/writer.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zstd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

TargetWriter::TargetWriter(int fd, bool block_device, uint32_t sector_size, uint64_t start,
                           std::function<void(uint64_t, uint64_t)> on_ack, BootRegion* boot)
    : fd_(fd), block_device_(block_device), sector_(sector_size), on_ack_(std::move(on_ack)), boot_(boot),
      applied_(start), durable_(start) {
  zctx_ = ZSTD_createDCtx();
  // Bounded memory: the host compresses each frame on its own, so windows
  // above the 4 MiB frame limit are never legitimate.
  ZSTD_DCtx_setParameter(static_cast<ZSTD_DCtx*>(zctx_), ZSTD_d_windowLogMax, 22);
  thread_ = std::thread([this] { run(); });
}

TargetWriter::~TargetWriter() {
  stop();
  ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(zctx_));
}

void TargetWriter::push(WriteItem item) {
  std::unique_lock lock(m_);
  size_t bytes = item.bytes().size() + 64;
  cv_.wait(lock, [&] { return error_ || queued_bytes_ + bytes <= kQueueBytes || queue_.empty(); });
  if (error_) throw *error_;
  queued_bytes_ += bytes;
  queue_.push_back(std::move(item));
  cv_.notify_all();
}

uint64_t TargetWriter::drain_and_sync() {
  std::unique_lock lock(m_);
  sync_requested_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return error_ || (queue_.empty() && !busy_ && !sync_requested_); });
  if (error_) throw *error_;
  return durable_;
}

uint64_t TargetWriter::durable() const {
  std::lock_guard lock(m_);
  return durable_;
}

uint64_t TargetWriter::stop() noexcept {
  {
    std::lock_guard lock(m_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(m_);
  return durable_;
}

void TargetWriter::ack(uint64_t durable) noexcept {
  last_ack_ = std::chrono::steady_clock::now();
  if (!on_ack_) return;
  try {
    on_ack_(durable, applied_);
  } catch (const std::exception&) {
    // A lost ACK only costs a longer resend after reconnecting; a dead
    // connection is the receiver's to notice.
  }
}

void TargetWriter::fail(ErrorCode code, const std::string& msg) { throw ProtocolError(code, msg); }

void TargetWriter::sync_now() {
  if (::fdatasync(fd_) != 0) fail(ErrorCode::kIo, fmt::format("fdatasync: {}", std::strerror(errno)));
  since_sync_ = 0;
  {
    std::lock_guard lock(m_);
    durable_ = applied_;
  }
}

void TargetWriter::run() {
  for (;;) {
    std::vector<WriteItem> batch;
    bool do_sync = false;
    {
      std::unique_lock lock(m_);
      cv_.wait(lock, [&] { return !queue_.empty() || stopping_ || sync_requested_; });
      if (queue_.empty()) {
        do_sync = true;  // sync requested, or stopping
        busy_ = true;
      } else {
        // Take one item, or a run of contiguous DATA up to kMaxWrite.
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
        if (batch[0].kind == WriteItem::Kind::kData) {
          uint64_t total = batch[0].length;
          while (!queue_.empty() && queue_.front().kind == WriteItem::Kind::kData &&
                 queue_.front().offset == batch.back().offset + batch.back().length &&
                 total + queue_.front().length <= kMaxWrite) {
            total += queue_.front().length;
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
        }
        busy_ = true;
        cv_.notify_all();
      }
    }
    try {
      if (!batch.empty()) {
        const WriteItem& first = batch[0];
        if (first.kind == WriteItem::Kind::kData)
          apply_data(batch);
        else if (first.kind == WriteItem::Kind::kZero) {
          uint64_t a = first.offset, b = first.offset + first.length;
          if (boot_) {
            boot_->hold_zeros(a, first.length);
            std::tie(a, b) = boot_->write_now(a, b);
          }
          if (a < b) zero_range(a, b - a);
        }
        applied_ = batch.back().offset + batch.back().length;
        for (auto& b : batch) since_sync_ += b.length;
        if (since_sync_ >= sync_every_) {
          sync_now();
          ack(applied_);
        } else if (std::chrono::steady_clock::now() - last_ack_ >= kAckEvery) {
          ack(durable());
        }
      } else if (do_sync) {
        sync_now();
      }
    } catch (const ProtocolError& e) {
      std::lock_guard lock(m_);
      error_ = e;
      queue_.clear();
      queued_bytes_ = 0;
      busy_ = false;
      sync_requested_ = false;
      cv_.notify_all();
      return;
    } catch (const std::exception& e) {
      std::lock_guard lock(m_);
      error_ = ProtocolError(ErrorCode::kIo, e.what());
      busy_ = false;
      sync_requested_ = false;
      cv_.notify_all();
      return;
    }
    std::lock_guard lock(m_);
    // Counted until written: the batch's memory is in use until now.
    for (auto& b : batch) queued_bytes_ -= b.bytes().size() + 64;
    busy_ = false;
    if (do_sync) sync_requested_ = false;
    cv_.notify_all();
    if (do_sync && stopping_ && queue_.empty()) return;
  }
}

namespace {

// The pieces of iov (which starts at device offset `at`) that lie in [a, b).
std::vector<iovec> clip(const std::vector<iovec>& iov, uint64_t at, uint64_t a, uint64_t b) {
  std::vector<iovec> out;
  for (const auto& v : iov) {
    const uint64_t s = std::max(at, a), e = std::min(at + v.iov_len, b);
    if (s < e) out.push_back({static_cast<uint8_t*>(v.iov_base) + (s - at), static_cast<size_t>(e - s)});
    at += v.iov_len;
  }
  return out;
}

}  // namespace

void TargetWriter::apply_data(std::vector<WriteItem>& batch) {
  std::vector<iovec> iov;
  size_t need = 0;
  for (auto& b : batch)
    if (b.zstd) need += static_cast<size_t>(b.length);
  if (scratch_.size() < need) scratch_.resize(need);
  size_t used = 0;
  for (auto& b : batch) {
    if (b.zstd) {
      size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(zctx_), scratch_.data() + used, b.length,
                                     b.bytes().data(), b.bytes().size());
      if (ZSTD_isError(n) || n != b.length)
        fail(ErrorCode::kMalformed,
             fmt::format("DATA at {}: zstd payload does not decompress to {} bytes: {}", b.offset, b.length,
                         ZSTD_isError(n) ? ZSTD_getErrorName(n) : fmt::format("got {}", n)));
      iov.push_back({scratch_.data() + used, static_cast<size_t>(b.length)});
      used += static_cast<size_t>(b.length);
    } else {
      iov.push_back({const_cast<uint8_t*>(b.bytes().data()), b.bytes().size()});  // iovec is not const
    }
  }
  uint64_t off = batch[0].offset;
  if (boot_) {
    // Hold the boot sectors' bytes; write only what lies between them.
    uint64_t pos = off;
    for (const auto& v : iov) {
      boot_->hold(pos, {static_cast<const uint8_t*>(v.iov_base), v.iov_len});
      pos += v.iov_len;
    }
    const auto [a, b] = boot_->write_now(off, pos);
    iov = clip(iov, off, a, b);
    off = a;
  }
  size_t idx = 0;
  while (idx < iov.size()) {
    ssize_t n = ::pwritev(fd_, iov.data() + idx, static_cast<int>(std::min<size_t>(iov.size() - idx, IOV_MAX)),
                          static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(ErrorCode::kIo, fmt::format("write at offset {}: {}", off, std::strerror(errno)));
    }
    if (n == 0) fail(ErrorCode::kIo, fmt::format("write at offset {}: no progress (device full?)", off));
    off += static_cast<uint64_t>(n);
    size_t left = static_cast<size_t>(n);
    while (idx < iov.size() && left >= iov[idx].iov_len) {
      left -= iov[idx].iov_len;
      ++idx;
    }
    if (idx < iov.size()) {
      iov[idx].iov_base = static_cast<uint8_t*>(iov[idx].iov_base) + left;
      iov[idx].iov_len -= left;
    }
  }
}

void TargetWriter::write_zeros(uint64_t offset, uint64_t length) {
  static const std::vector<uint8_t> zeros(1u << 20, 0);
  while (length > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(length, zeros.size()));
    ssize_t w = ::pwrite(fd_, zeros.data(), n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(ErrorCode::kIo, fmt::format("writing zeros at offset {}: {}", offset, std::strerror(errno)));
    offset += static_cast<uint64_t>(w);
    length -= static_cast<uint64_t>(w);
  }
}

void TargetWriter::zero_range(uint64_t offset, uint64_t length) {
  if (block_device_) {
    // BLKZEROOUT wants sector-aligned ranges; write the ragged edges.
    uint64_t start = (offset + sector_ - 1) / sector_ * sector_;
    uint64_t end = (offset + length) / sector_ * sector_;
    if (start >= end) return write_zeros(offset, length);
    if (start > offset) write_zeros(offset, start - offset);
    uint64_t range[2] = {start, end - start};
    if (::ioctl(fd_, BLKZEROOUT, range) != 0) {
      if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EINVAL)
        fail(ErrorCode::kIo, fmt::format("BLKZEROOUT [{}, {}): {}", start, end, std::strerror(errno)));
      write_zeros(start, end - start);
    }
    if (offset + length > end) write_zeros(end, offset + length - end);
    return;
  }
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0)
    return;
  if (errno != EOPNOTSUPP && errno != ENOSYS)
    fail(ErrorCode::kIo, fmt::format("punching hole [{}, {}): {}", offset, offset + length, std::strerror(errno)));
  write_zeros(offset, length);
}

}  // namespace agent
