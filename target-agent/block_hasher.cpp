#include "target-agent/block_hasher.h"

#include <fcntl.h>

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/errors.h"
#include "protocol/messages.h"
#include "target-agent/target_io.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

BlockHasher::BlockHasher(int fd, std::string path, mkproto::Channel& ch, uint64_t offset, uint64_t length,
                         uint32_t block, const mkproto::DeltaKey& key, mkproto::HashKind kind,
                         std::function<uint64_t()> durable)
    : fd_(fd), path_(std::move(path)), ch_(ch), offset_(offset), length_(length), block_(block), key_(key),
      kind_(kind), durable_(std::move(durable)) {
  th_ = std::thread([this] { run(); });
}

BlockHasher::~BlockHasher() {
  if (th_.joinable()) th_.join();
}

void BlockHasher::stop(const std::function<void()>& unblock) {
  stop_ = true;
  {
    std::unique_lock lk(m_);
    if (!cv_.wait_for(lk, std::chrono::seconds(1), [&] { return done_; })) {
      lk.unlock();
      unblock();
    }
  }
  if (th_.joinable()) th_.join();
}

void BlockHasher::run() noexcept {
  try {
    hash();
  } catch (const ProtocolError& e) {
    fmt::print(stderr, "target-agent: delta hashes: {}\n", e.what());
    try {
      ch_.send(mkproto::encode(mkproto::ErrorMsg{e.code, durable_(), e.detail}));
    } catch (const std::exception&) {
    }
  } catch (const std::exception& e) {
    // The connection went away, or the host took nothing for the send
    // deadline: end it, so the receiver does not wait for its idle timeout.
    fmt::print(stderr, "target-agent: delta hashes: {}\n", e.what());
    ch_.shutdown();
  }
  std::lock_guard lk(m_);
  done_ = true;
  cv_.notify_all();
}

void BlockHasher::hash() {
  const uint64_t end = offset_ + length_;
  const uint32_t block = block_;
  // Holes of a sparse file target hash as zeros without being read: reading
  // them makes the kernel zero-fill page-cache pages, which was most of the
  // agent's (system) time on a mostly-hole image.
  const auto data = data_ranges(fd_, offset_, end);
  posix_fadvise(fd_, static_cast<off_t>(offset_), static_cast<off_t>(length_), POSIX_FADV_SEQUENTIAL);
  // 2 MiB reads: few syscalls, and small next to the writer's queue — this
  // runs while the image streams in (16 MiB RSS budget). A multiple of the
  // block, so blocks never straddle two reads.
  const size_t chunk = std::max<size_t>(block, (2u << 20) / block * block);
  AlignedBuffer buf(chunk);
  std::vector<uint8_t> zeros;
  uint64_t zero_hash = 0;
  mkproto::Hashes out{offset_, {}};
  auto emit = [&](uint64_t h) {
    out.hashes.push_back(h);
    if (out.hashes.size() == mkproto::kMaxHashesPerFrame) {
      ch_.send(mkproto::encode(out));
      out.offset += uint64_t{block} * out.hashes.size();
      out.hashes.clear();
    }
  };
  auto d = data.begin();
  for (uint64_t pos = offset_; pos < end;) {
    if (stop_) return;
    while (d != data.end() && d->second <= pos) ++d;
    uint64_t blen = std::min<uint64_t>(block, end - pos);
    if (d == data.end() || d->first >= pos + blen) {
      // Whole block in a hole.
      if (blen == block) {
        if (zeros.empty()) {
          zeros.assign(block, 0);
          zero_hash = mkproto::delta_hash(key_, kind_, zeros.data(), block);
        }
        emit(zero_hash);
      } else {
        emit(mkproto::delta_hash(key_, kind_, std::vector<uint8_t>(static_cast<size_t>(blen), 0).data(),
                                 static_cast<size_t>(blen)));
      }
      pos += blen;
      continue;
    }
    // Read up to the end of this data range (rounded up to a block), or a chunk.
    uint64_t stop = std::min(end, pos + chunk);
    uint64_t data_end = pos + (d->second - pos + block - 1) / block * block;
    stop = std::min(stop, data_end);
    size_t n = static_cast<size_t>(stop - pos);
    size_t got = read_at(fd_, buf.data(), n, pos, path_);
    if (got != n) throw ProtocolError(ErrorCode::kIo, fmt::format("{}: short read at {}", path_, pos + got));
    for (size_t b = 0; b < n; b += block) {
      const size_t len = std::min<size_t>(block, n - b);
      const uint8_t* p = buf.data() + b;
      // BLAKE2b costs the node ~40 instructions per byte; a zero block (a
      // disk's unused space) is recognised for well under one.
      if (kind_ == mkproto::HashKind::kStrong && len == block && p[0] == 0 && std::memcmp(p, p + 1, len - 1) == 0) {
        if (zeros.empty()) {
          zeros.assign(block, 0);
          zero_hash = mkproto::delta_hash(key_, kind_, zeros.data(), block);
        }
        emit(zero_hash);
        continue;
      }
      emit(mkproto::delta_hash(key_, kind_, p, len));
    }
    pos = stop;
  }
  if (!out.hashes.empty()) ch_.send(mkproto::encode(out));
  ch_.send(mkproto::encode(mkproto::HashesEnd{}));
}

}  // namespace agent
