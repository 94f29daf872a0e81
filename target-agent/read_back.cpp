#include "target-agent/read_back.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <utility>

#include "protocol/block_digest.h"
#include "protocol/codec.h"
#include "protocol/errors.h"
#include "target-agent/target_io.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

namespace {

constexpr size_t kChunk = 2u << 20;   // largest read
constexpr uint64_t kGap = 64u << 10;  // data pieces closer than this share a read

// A stretch of [0, size) as VERIFY sees it: left out of the digest, a hole
// of the target (zeros, not read), or data to read back.
struct Piece {
  enum Kind { kExcluded, kHole, kData } kind = kHole;
  uint64_t start = 0, end = 0;
};

// Cuts [begin, size) into pieces in order. Data pieces never cross a multiple
// of `chunk`, so one always fits a chunk-sized aligned read.
class PieceWalker {
 public:
  PieceWalker(uint64_t begin, uint64_t size, std::vector<ByteRange> excluded,
              std::vector<std::pair<uint64_t, uint64_t>> data, uint64_t chunk)
      : pos_(begin), size_(size), chunk_(chunk), ex_(std::move(excluded)), data_(std::move(data)) {}

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

ReadBackFd open_read_back(const std::string& path, uint32_t sector) {
  // Bypass the page cache so we read what the device holds, not what we
  // wrote into memory: O_DIRECT, else drop the cached pages first.
  ReadBackFd r;
  r.direct = true;
  r.fd.reset(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!r.fd) {
    r.direct = false;
    r.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!r.fd) throw ProtocolError(ErrorCode::kIo, fmt::format("open {} for verify: {}", path, std::strerror(errno)));
  }
  r.align = std::max<size_t>(4096, sector);
  if (r.direct) {
    // Some devices want O_DIRECT aligned to a larger sector than they
    // report: probe once, and take the page-cache path if it fails.
    AlignedBuffer probe(r.align, r.align);
    if (::pread(r.fd.get(), probe.data(), r.align, 0) < 0) {
      r.direct = false;
      r.fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!r.fd) throw ProtocolError(ErrorCode::kIo, fmt::format("reopen {}: {}", path, std::strerror(errno)));
    }
  }
  if (!r.direct) ::posix_fadvise(r.fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  return r;
}

ReadBack::ReadBack(ReadBackFd fd, int data_fd, std::string path, mkproto::Channel& ch, uint32_t block, ReadHook hook)
    : fd_(std::move(fd)), data_fd_(data_fd), path_(std::move(path)), ch_(ch), block_(block), hook_(std::move(hook)) {
  // Up to 16 reads in flight: scattered delta blocks are many small reads,
  // and a disk queue serves several at once. At most 2 MiB of them (plus
  // the one being digested): a run of data is read a chunk at a time, and
  // the agent stays in its 16 MiB.
  pool_ = std::make_unique<ReadPool>(fd_.fd.get(), path_, 16, kChunk, fd_.align);
}

mkproto::VerifyEnd ReadBack::end() const {
  mkproto::VerifyEnd ve;
  ve.overall = overall_.digest();
  ve.bytes_read = bytes_read_;
  ve.direct_io = fd_.direct;
  return ve;
}

void ReadBack::range(uint64_t start, uint64_t end, const std::vector<ByteRange>& excluded) {
  ReadPool& pool = *pool_;
  const size_t align = fd_.align;
  auto align_up = [align](uint64_t x) { return (x + align - 1) / align * align; };
  const uint64_t base = start;
  // Without O_DIRECT the pages just written may still be cached: drop them
  // (the range is durable, so they are clean) to read what the disk holds.
  if (!fd_.direct) ::posix_fadvise(fd_.fd.get(), static_cast<off_t>(start), static_cast<off_t>(end - start), POSIX_FADV_DONTNEED);
  // A hole of a sparse file target reads as zeros by definition: not
  // reading it saved most of the read-back time of a mostly-hole image.
  // Kept delta blocks (scope kWritten) were compared by hash in this
  // session and are left out, so a reflash reads back only what it changed.
  PieceWalker walk(start, end, excluded, data_ranges(data_fd_, start, end), kChunk);
  std::deque<Piece> ahead;
  auto peek = [&](size_t i) -> const Piece* {
    while (ahead.size() <= i) {
      Piece p;
      if (!walk.next(p)) return nullptr;
      ahead.push_back(p);
    }
    return &ahead[i];
  };

  // Offsets relative to the range: its start is a block boundary.
  mkproto::BlockDigester dig(end - base, block_);
  size_t sent = 0;
  mkproto::Digests out;
  auto flush = [&](bool all) {
    const auto& d = dig.digests();
    // Every 64 blocks: a slow disk must not look like a dead agent to the host.
    while (sent < d.size() && (all || d.size() - sent >= 64)) {
      size_t n = std::min(d.size() - sent, mkproto::kMaxDigestsPerFrame);
      out.digests.assign(d.begin() + static_cast<std::ptrdiff_t>(sent),
                         d.begin() + static_cast<std::ptrdiff_t>(sent + n));
      out.offset = base + uint64_t{block_} * sent;
      for (const auto& x : out.digests) overall_.update(x.data(), x.size());
      ch_.send(mkproto::encode(out));
      sent += n;
    }
  };
  auto digest_gap = [&](const Piece& p) {
    p.kind == Piece::kExcluded ? dig.dont_care(p.start - base, p.end - p.start)
                               : dig.zeros(p.start - base, p.end - p.start);
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
    std::span<uint8_t> bytes;
    if (b.read) {
      bytes = pool.pop();
      if (hook_) hook_(b.start, bytes);
    }
    for (const Piece& p : b.pieces) {
      if (p.kind != Piece::kData) {
        digest_gap(p);
        continue;
      }
      if (p.end - b.start > bytes.size())
        throw ProtocolError(ErrorCode::kIo,
                            fmt::format("{}: short read at {} during verify", path_, b.start + bytes.size()));
      dig.data(p.start - base,
               bytes.subspan(static_cast<size_t>(p.start - b.start), static_cast<size_t>(p.end - p.start)));
      bytes_read_ += p.end - p.start;
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
      const uint64_t at = first->start / align * align;
      uint64_t stop = first->end;
      size_t n = 1;
      for (size_t i = 1; i < 4096; ++i) {
        const Piece* q = peek(i);
        if (!q || q->start > stop + kGap) break;
        if (q->kind != Piece::kData) continue;
        if (align_up(q->end) - at > kChunk) break;
        stop = q->end;
        n = i + 1;
      }
      const size_t length = static_cast<size_t>(align_up(stop) - at);
      while (!pool.has_room(length)) consume();
      Batch b{{ahead.begin(), ahead.begin() + static_cast<std::ptrdiff_t>(n)}, at, true};
      ahead.erase(ahead.begin(), ahead.begin() + static_cast<std::ptrdiff_t>(n));
      pool.submit(at, length);
      batches.push_back(std::move(b));
    }
    while (batches.size() > 256) consume();
  }
  while (!batches.empty()) consume();
  flush(true);
}

}  // namespace agent
