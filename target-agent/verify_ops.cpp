// HASH_REQUEST (delta) and VERIFY (read-back) on the agent.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "protocol/block_digest.h"
#include "target-agent/connection.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::ProtocolError;

namespace {

struct AlignedBuffer {
  explicit AlignedBuffer(size_t n) : size(n) {
    if (posix_memalign(&p, 4096, n) != 0) throw std::bad_alloc();
  }
  ~AlignedBuffer() { std::free(p); }
  uint8_t* data() { return static_cast<uint8_t*>(p); }
  void* p = nullptr;
  size_t size;
};

// Reads exactly n bytes at off (short only at end of file/device).
size_t read_at(int fd, uint8_t* buf, size_t n, uint64_t off, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("read {} at {}: {}", path, off + done, std::strerror(errno)));
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

// The ranges of [begin, end) that may hold data (SEEK_DATA/SEEK_HOLE); the
// whole range when the target cannot tell (block devices, old file systems).
std::vector<std::pair<uint64_t, uint64_t>> data_ranges(int fd, uint64_t begin, uint64_t end) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return {{begin, end}};
  for (uint64_t pos = begin; pos < end;) {
    off_t d = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break;  // only a hole up to the end of the file
      return {{begin, end}};
    }
    if (static_cast<uint64_t>(d) >= end) break;
    off_t h = ::lseek(fd, d, SEEK_HOLE);
    if (h < 0) return {{begin, end}};
    uint64_t e = std::min<uint64_t>(static_cast<uint64_t>(h), end);
    out.emplace_back(static_cast<uint64_t>(d), e);
    pos = e;
  }
  return out;
}

}  // namespace

void Connection::on_hash_request(const Frame& f) {
  require_session(f);
  auto req = mkproto::decode_hash_request(f);
  if (f.offset > device_size_ || req.length > device_size_ - f.offset)
    throw ProtocolError(ErrorCode::kOutOfRange, fmt::format("HASH_REQUEST [{}, {}) reaches past the target size {}",
                                                            f.offset, f.offset + req.length, device_size_));
  // Hashes must reflect what this session already wrote.
  writer_->drain_and_sync();
  const uint64_t end = f.offset + req.length;
  const uint32_t block = req.block;
  // Holes of a sparse file target hash as zeros without being read: reading
  // them makes the kernel zero-fill page-cache pages, which was most of the
  // agent's (system) time on a mostly-hole image.
  const auto data = data_ranges(target_fd_, f.offset, end);
  posix_fadvise(target_fd_, static_cast<off_t>(f.offset), static_cast<off_t>(req.length), POSIX_FADV_SEQUENTIAL);
  // Large reads: fewer syscalls; a multiple of the block so blocks never
  // straddle two reads.
  const size_t chunk = std::max<size_t>(block, (8u << 20) / block * block);
  AlignedBuffer buf(chunk);
  std::vector<uint8_t> zeros;
  uint64_t zero_hash = 0;
  mkproto::Hashes out;
  uint64_t out_offset = f.offset;
  auto emit = [&](uint64_t h) {
    out.hashes.push_back(h);
    if (out.hashes.size() == mkproto::kMaxHashesPerFrame) {
      ch_.send(mkproto::encode_hashes(out_offset, out));
      out_offset += uint64_t{block} * out.hashes.size();
      out.hashes.clear();
    }
  };
  auto d = data.begin();
  for (uint64_t pos = f.offset; pos < end;) {
    while (d != data.end() && d->second <= pos) ++d;
    uint64_t blen = std::min<uint64_t>(block, end - pos);
    if (d == data.end() || d->first >= pos + blen) {
      // Whole block in a hole.
      if (blen == block) {
        if (zeros.empty()) {
          zeros.assign(block, 0);
          zero_hash = mkproto::xxh3_64(zeros.data(), block);
        }
        emit(zero_hash);
      } else {
        emit(mkproto::xxh3_64(std::vector<uint8_t>(static_cast<size_t>(blen), 0).data(), static_cast<size_t>(blen)));
      }
      pos += blen;
      continue;
    }
    // Read up to the end of this data range (rounded up to a block), or a chunk.
    uint64_t stop = std::min(end, pos + chunk);
    uint64_t data_end = pos + (d->second - pos + block - 1) / block * block;
    stop = std::min(stop, data_end);
    size_t n = static_cast<size_t>(stop - pos);
    size_t got = read_at(target_fd_, buf.data(), n, pos, session_->path);
    if (got != n) throw ProtocolError(ErrorCode::kIo, fmt::format("{}: short read at {}", session_->path, pos + got));
    for (size_t b = 0; b < n; b += block) emit(mkproto::xxh3_64(buf.data() + b, std::min<size_t>(block, n - b)));
    pos = stop;
  }
  if (!out.hashes.empty()) ch_.send(mkproto::encode_hashes(out_offset, out));
  ch_.send(mkproto::encode_empty(mkproto::FrameType::kHashesEnd));
}

void Connection::on_verify(const Frame& f) {
  require_session(f);
  auto req = mkproto::decode_verify(f);
  if (!sessions_.finished(*session_))
    throw ProtocolError(ErrorCode::kUnexpected, "VERIFY before the session is FINISHED");
  writer_->drain_and_sync();
  const std::string& path = session_->path;
  const uint64_t size = session_->image_size;
  // Bypass the page cache so we read what the device holds, not what we
  // wrote into memory: O_DIRECT, else drop the cached pages first.
  bool direct = true;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) {
    direct = false;
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("open {} for verify: {}", path, std::strerror(errno)));
  }
  std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* p) { ::close(*p); });
  if (!direct) {
    ::fdatasync(target_fd_);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  }
  const size_t chunk = 2u << 20;
  AlignedBuffer buf(chunk);
  // A chunk wholly in a hole of a sparse file target reads as zeros by
  // definition: not reading it saved most of the read-back time of a
  // mostly-hole image.
  const auto data = data_ranges(target_fd_, 0, size);
  auto dr = data.begin();
  mkproto::BlockDigester dig(size, req.block);
  auto dc = session_->dont_care.begin();
  uint64_t bytes_read = 0;
  size_t sent = 0;
  mkproto::Digests out;
  auto flush = [&](bool all) {
    const auto& d = dig.digests();
    // Every 64 blocks: a slow disk must not look like a dead agent to the host.
    while (sent < d.size() && (all || d.size() - sent >= 64)) {
      size_t n = std::min(d.size() - sent, mkproto::kMaxDigestsPerFrame);
      out.digests.assign(d.begin() + static_cast<std::ptrdiff_t>(sent), d.begin() + static_cast<std::ptrdiff_t>(sent + n));
      ch_.send(mkproto::encode_digests(uint64_t{req.block} * sent, out));
      sent += n;
    }
  };
  for (uint64_t pos = 0; pos < size;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, size - pos));
    size_t aligned = (want + 4095) / 4096 * 4096;  // O_DIRECT reads whole pages
    size_t got;
    while (dr != data.end() && dr->second <= pos) ++dr;
    if (dr == data.end() || dr->first >= pos + want) {
      std::memset(buf.data(), 0, want);
      got = want;
    } else try {
      got = read_at(fd, buf.data(), aligned, pos, path);
    } catch (const ProtocolError&) {
      if (!direct) throw;
      // Some devices want O_DIRECT aligned to a larger sector: fall back.
      direct = false;
      ::close(fd);
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("reopen {}: {}", path, std::strerror(errno)));
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      continue;
    }
    if (got < want) throw ProtocolError(ErrorCode::kIo, fmt::format("{}: short read at {} during verify", path, pos + got));
    bytes_read += want;
    // Split the chunk into counted bytes and don't-care ranges.
    uint64_t p = pos, end = pos + want;
    while (p < end) {
      while (dc != session_->dont_care.end() && dc->second <= p) ++dc;
      if (dc != session_->dont_care.end() && dc->first <= p) {
        uint64_t e = std::min(end, dc->second);
        dig.dont_care(p, e - p);
        p = e;
      } else {
        uint64_t e = dc == session_->dont_care.end() ? end : std::min(end, dc->first);
        dig.data(p, {buf.data() + (p - pos), static_cast<size_t>(e - p)});
        p = e;
      }
    }
    pos = end;
    flush(false);
  }
  flush(true);
  mkproto::VerifyEnd ve;
  ve.overall = dig.overall();
  ve.bytes_read = bytes_read;
  ve.direct_io = direct;
  ch_.send(mkproto::encode(ve));
}

}  // namespace agent
