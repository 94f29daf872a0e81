// HASH_REQUEST (delta) and VERIFY (read-back) on the agent.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "protocol/block_digest.h"
#include "target-agent/connection.h"
#include "target-agent/read_pool.h"

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

// A stretch of [0, size) as VERIFY sees it: left out of the digest, a hole
// of the target (zeros, not read), or data to read back.
struct Piece {
  enum Kind { kExcluded, kHole, kData } kind = kHole;
  uint64_t start = 0, end = 0;
};

// Cuts [0, size) into pieces in order. Data pieces never cross a multiple
// of `chunk`, so one always fits a chunk-sized aligned read.
class PieceWalker {
 public:
  PieceWalker(uint64_t size, std::vector<ByteRange> excluded, std::vector<std::pair<uint64_t, uint64_t>> data,
              uint64_t chunk)
      : size_(size), chunk_(chunk), ex_(std::move(excluded)), data_(std::move(data)) {}

  bool next(Piece& p) {
    if (pos_ >= size_) return false;
    while (ei_ < ex_.size() && ex_[ei_].end <= pos_) ++ei_;
    if (ei_ < ex_.size() && ex_[ei_].start <= pos_) {
      p = {Piece::kExcluded, pos_, std::min(ex_[ei_].end, size_)};
    } else {
      uint64_t stop = ei_ < ex_.size() ? std::min(size_, ex_[ei_].start) : size_;
      while (di_ < data_.size() && data_[di_].second <= pos_) ++di_;
      if (di_ == data_.size() || data_[di_].first >= stop)
        p = {Piece::kHole, pos_, stop};
      else if (data_[di_].first > pos_)
        p = {Piece::kHole, pos_, data_[di_].first};
      else
        p = {Piece::kData, pos_, std::min({stop, data_[di_].second, (pos_ / chunk_ + 1) * chunk_})};
    }
    pos_ = p.end;
    return true;
  }

 private:
  uint64_t pos_ = 0, size_, chunk_;
  std::vector<ByteRange> ex_;
  size_t ei_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> data_;
  size_t di_ = 0;
};

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
  const size_t align = std::max<size_t>(4096, sector_);
  if (direct) {
    // Some devices want O_DIRECT aligned to a larger sector than they
    // report: probe once, and take the page-cache path if it fails.
    AlignedBuffer probe(align);
    if (::pread(fd, probe.data(), align, 0) < 0) {
      ::close(fd);
      direct = false;
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("reopen {}: {}", path, std::strerror(errno)));
    }
  }
  if (!direct) ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

  constexpr size_t kChunk = 2u << 20;   // largest read
  constexpr uint64_t kGap = 64u << 10;  // data pieces closer than this share a read
  auto align_up = [align](uint64_t x) { return (x + align - 1) / align * align; };
  // 16 reads in flight, 4 MiB at most: scattered delta blocks are many
  // small reads, and a disk queue serves several at once.
  ReadPool pool(fd, path, 16, 4u << 20, align);
  // A hole of a sparse file target reads as zeros by definition: not reading
  // it saved most of the read-back time of a mostly-hole image. Kept delta
  // blocks (scope kWritten) were compared by hash in this session and are
  // left out, so a reflash reads back only what it changed.
  PieceWalker walk(size,
                   req.scope == mkproto::VerifyScope::kWritten
                       ? merge_ranges(session_->dont_care.ranges(), session_->kept.ranges())
                       : session_->dont_care.ranges(),
                   data_ranges(target_fd_, 0, size), kChunk);
  std::deque<Piece> ahead;
  auto peek = [&](size_t i) -> const Piece* {
    while (ahead.size() <= i) {
      Piece p;
      if (!walk.next(p)) return nullptr;
      ahead.push_back(p);
    }
    return &ahead[i];
  };

  mkproto::BlockDigester dig(size, req.block);
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
  auto digest_gap = [&](const Piece& p) {
    p.kind == Piece::kExcluded ? dig.dont_care(p.start, p.end - p.start) : dig.zeros(p.start, p.end - p.start);
  };
  // Pieces go to the digester in order, in batches: a batch is one read
  // (its data pieces and the small gaps between them) or one gap piece.
  struct Batch {
    std::vector<Piece> pieces;
    uint64_t start = 0;  // of the read; pieces.empty() never
    bool read = false;
  };
  std::deque<Batch> batches;
  auto consume = [&] {
    Batch b = std::move(batches.front());
    batches.pop_front();
    std::span<const uint8_t> bytes;
    if (b.read) bytes = pool.pop();
    for (const Piece& p : b.pieces) {
      if (p.kind != Piece::kData) {
        digest_gap(p);
        continue;
      }
      if (p.end - b.start > bytes.size())
        throw ProtocolError(ErrorCode::kIo, fmt::format("{}: short read at {} during verify", path, b.start + bytes.size()));
      dig.data(p.start, bytes.subspan(static_cast<size_t>(p.start - b.start), static_cast<size_t>(p.end - p.start)));
      bytes_read += p.end - p.start;
    }
    flush(false);
  };
  while (const Piece* first = peek(0)) {
    if (first->kind != Piece::kData) {
      batches.push_back({{*first}, 0, false});
      ahead.pop_front();
    } else {
      // One read for the data pieces that follow closely (within kGap,
      // inside one chunk); a run of data is read chunk by chunk.
      const uint64_t start = first->start / align * align;
      uint64_t end = first->end;
      size_t n = 1;
      for (size_t i = 1; i < 4096; ++i) {
        const Piece* q = peek(i);
        if (!q || q->start > end + kGap) break;
        if (q->kind != Piece::kData) continue;
        if (align_up(q->end) - start > kChunk) break;
        end = q->end;
        n = i + 1;
      }
      const size_t length = static_cast<size_t>(align_up(end) - start);
      while (!pool.has_room(length)) consume();
      Batch b{{ahead.begin(), ahead.begin() + static_cast<std::ptrdiff_t>(n)}, start, true};
      ahead.erase(ahead.begin(), ahead.begin() + static_cast<std::ptrdiff_t>(n));
      pool.submit(start, length);
      batches.push_back(std::move(b));
    }
    while (batches.size() > 256) consume();
  }
  while (!batches.empty()) consume();
  flush(true);
  mkproto::VerifyEnd ve;
  ve.overall = dig.overall();
  ve.bytes_read = bytes_read;
  ve.direct_io = direct;
  ch_.send(mkproto::encode(ve));
}

}  // namespace agent
