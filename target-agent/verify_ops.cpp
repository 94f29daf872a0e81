// VERIFY (read-back) on the agent.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <span>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "protocol/block_digest.h"
#include "target-agent/connection.h"
#include "target-agent/read_pool.h"
#include "target-agent/target_io.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::ProtocolError;

namespace {

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

void Connection::on_verify(const Frame& f) {
  require_session(f);
  auto req = mkproto::decode<mkproto::Verify>(f);
  if (!sessions_.finished(*session_))
    throw ProtocolError(ErrorCode::kUnexpected, "VERIFY before the session is FINISHED");
  if (in_repair_) throw ProtocolError(ErrorCode::kUnexpected, "VERIFY during a repair (FINISH ends it)");
  writer_->drain_and_sync();
  const std::string& path = session_->path;
  const uint64_t size = session_->known_size;
  // Bypass the page cache so we read what the device holds, not what we
  // wrote into memory: O_DIRECT, else drop the cached pages first.
  bool direct = true;
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!fd) {
    direct = false;
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw ProtocolError(ErrorCode::kIo, fmt::format("open {} for verify: {}", path, std::strerror(errno)));
  }
  const size_t align = std::max<size_t>(4096, sector_);
  if (direct) {
    // Some devices want O_DIRECT aligned to a larger sector than they
    // report: probe once, and take the page-cache path if it fails.
    AlignedBuffer probe(align, align);
    if (::pread(fd.get(), probe.data(), align, 0) < 0) {
      direct = false;
      fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) throw ProtocolError(ErrorCode::kIo, fmt::format("reopen {}: {}", path, std::strerror(errno)));
    }
  }
  if (!direct) ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);

  constexpr size_t kChunk = 2u << 20;   // largest read
  constexpr uint64_t kGap = 64u << 10;  // data pieces closer than this share a read
  auto align_up = [align](uint64_t x) { return (x + align - 1) / align * align; };
  // Up to 16 reads in flight: scattered delta blocks are many small reads,
  // and a disk queue serves several at once. At most 2 MiB of them (plus
  // the one being digested): a run of data is read a chunk at a time, as
  // before, and the agent stays in its 16 MiB.
  ReadPool pool(fd.get(), path, 16, kChunk, align);
  const std::vector<ByteRange> excluded = req.scope == mkproto::VerifyScope::kWritten
                                              ? merge_ranges(session_->dont_care.ranges(), session_->kept.ranges())
                                              : session_->dont_care.ranges();
  // Right after a repair round only its ranges are read back (DIGESTS then
  // carry only their blocks); otherwise the whole image.
  std::vector<ByteRange> ranges = std::move(repaired_);
  repaired_.clear();
  for (const ByteRange& r : ranges)
    if (r.start % req.block != 0 || (r.end % req.block != 0 && r.end != size))
      throw ProtocolError(ErrorCode::kBadRequest,
                          fmt::format("VERIFY in blocks of {} after a repair of [{}, {}): not whole blocks", req.block,
                                      r.start, r.end));
  if (ranges.empty()) ranges.push_back({0, size});

  mkproto::Hash128 overall;
  uint64_t bytes_read = 0;
  for (const ByteRange& range : ranges) {
    const uint64_t base = range.start;
    // A hole of a sparse file target reads as zeros by definition: not
    // reading it saved most of the read-back time of a mostly-hole image.
    // Kept delta blocks (scope kWritten) were compared by hash in this
    // session and are left out, so a reflash reads back only what it changed.
    PieceWalker walk(range.start, range.end, excluded, data_ranges(target_fd_, range.start, range.end), kChunk);
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
    mkproto::BlockDigester dig(range.end - base, req.block);
    size_t sent = 0;
    mkproto::Digests out;
    auto flush = [&](bool all) {
      const auto& d = dig.digests();
      // Every 64 blocks: a slow disk must not look like a dead agent to the host.
      while (sent < d.size() && (all || d.size() - sent >= 64)) {
        size_t n = std::min(d.size() - sent, mkproto::kMaxDigestsPerFrame);
        out.digests.assign(d.begin() + static_cast<std::ptrdiff_t>(sent),
                           d.begin() + static_cast<std::ptrdiff_t>(sent + n));
        out.offset = base + uint64_t{req.block} * sent;
        for (const auto& x : out.digests) overall.update(x.data(), x.size());
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
        if (cfg_.verify_read_hook) cfg_.verify_read_hook(b.start, bytes);
      }
      for (const Piece& p : b.pieces) {
        if (p.kind != Piece::kData) {
          digest_gap(p);
          continue;
        }
        if (p.end - b.start > bytes.size())
          throw ProtocolError(ErrorCode::kIo,
                              fmt::format("{}: short read at {} during verify", path, b.start + bytes.size()));
        dig.data(p.start - base,
                 bytes.subspan(static_cast<size_t>(p.start - b.start), static_cast<size_t>(p.end - p.start)));
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
  }
  mkproto::VerifyEnd ve;
  ve.overall = overall.digest();
  ve.bytes_read = bytes_read;
  ve.direct_io = direct;
  ch_.send(mkproto::encode(ve));
}

}  // namespace agent
