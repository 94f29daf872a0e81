// HASH_REQUEST (delta) and VERIFY (read-back) on the agent.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

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

}  // namespace

void Connection::on_hash_request(const Frame& f) {
  require_session(f);
  auto req = mkproto::decode_hash_request(f);
  if (f.offset > device_size_ || req.length > device_size_ - f.offset)
    throw ProtocolError(ErrorCode::kOutOfRange, fmt::format("HASH_REQUEST [{}, {}) reaches past the target size {}",
                                                            f.offset, f.offset + req.length, device_size_));
  // Hashes must reflect what this session already wrote.
  writer_->drain_and_sync();
  const size_t chunk = std::max<size_t>(req.block, 1u << 20);
  std::vector<uint8_t> buf(chunk);
  mkproto::Hashes out;
  uint64_t out_offset = f.offset;
  for (uint64_t pos = f.offset, end = f.offset + req.length; pos < end;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, end - pos));
    size_t got = read_at(target_fd_, buf.data(), n, pos, session_->path);
    if (got != n) throw ProtocolError(ErrorCode::kIo, fmt::format("{}: short read at {}", session_->path, pos + got));
    for (size_t b = 0; b < n; b += req.block) {
      out.hashes.push_back(mkproto::xxh3_64(buf.data() + b, std::min<size_t>(req.block, n - b)));
      if (out.hashes.size() == mkproto::kMaxHashesPerFrame) {
        ch_.send(mkproto::encode_hashes(out_offset, out));
        out_offset += uint64_t{req.block} * out.hashes.size();
        out.hashes.clear();
      }
    }
    pos += n;
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
    try {
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
