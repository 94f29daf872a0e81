// open_image: picks the byte stream (file, http, decompressor) and turns it
// into extents: .bmap ranges, zero detection, per-range checksum checks.
#include "mkmaster/source/image_reader.h"

#include <algorithm>
#include <cstring>

#include "mkmaster/source/archive_stream.h"
#include "mkmaster/source/bmap.h"
#include "mkmaster/source/compression.h"
#include "mkmaster/source/file_stream.h"
#include "mkmaster/source/gzip_stream.h"
#include "mkmaster/source/http_stream.h"
#include "mkmaster/source/prefetch_reader.h"
#include "mkmaster/source/range_checker.h"
#include "mkmaster/source/zero_scan.h"

namespace source {

namespace {

constexpr size_t kReadBuffer = 4u << 20;  // one big read feeds many blocks

std::unique_ptr<ByteStream> decompress(std::unique_ptr<ByteStream> in, Compression kind, std::optional<uint64_t> hint) {
  if (kind == Compression::gzip) return open_gzip_stream(std::move(in));  // checks CRC-32 (gzip_stream.h)
  return open_archive_stream(std::move(in), kind, hint);
}

class ExtentReader final : public ImageReader {
 public:
  ExtentReader(std::unique_ptr<ByteStream> stream, std::optional<Bmap> bmap, const OpenOptions& opt)
      : s_(std::move(stream)), bmap_(std::move(bmap)), opt_(opt) {
    if (opt_.zero_block == 0) throw SourceError("zero_block must be > 0");
    if (opt_.max_extent < opt_.zero_block) throw SourceError("max_extent must be >= zero_block");
    buf_.resize(std::max<size_t>(kReadBuffer, opt_.zero_block));
    std::optional<uint64_t> stream_size = s_->size();
    if (bmap_) {
      end_ = bmap_->image_size;
      if (stream_size && *stream_size != bmap_->image_size)
        throw SourceError(s_->describe() + " is " + std::to_string(*stream_size) + " bytes but its bmap " +
                          bmap_->path + " says ImageSize " + std::to_string(bmap_->image_size) +
                          " (a .bmap for another image?)");
      if (opt_.verify_bmap && !bmap_->checksum_type.empty())
        checker_ = std::make_unique<RangeChecker>(
            bmap_->checksum_type, [this](size_t i) -> const std::string& { return bmap_->ranges[i].checksum; },
            [this](size_t i, const std::string& got) { return mismatch(bmap_->ranges[i], got); });
    } else {
      end_ = stream_size;
    }
  }

  std::optional<uint64_t> size() const override {
    if (bmap_) return bmap_->image_size;
    return s_->size();
  }

  std::string describe() const override {
    return s_->describe() + (bmap_ ? ", bmap " + bmap_->path : "");
  }

  void seek(uint64_t offset) override {
    if (end_ && offset > *end_)
      throw SourceError(describe() + ": cannot seek to " + std::to_string(offset) + ": the image is " +
                        std::to_string(*end_) + " bytes");
    pos_ = offset;
    suppress_until_ = 0;
    hash_valid_ = false;
    done_ = false;
    ri_ = 0;
    if (!bmap_) return;
    const auto& rs = bmap_->ranges;
    ri_ = static_cast<size_t>(std::partition_point(rs.begin(), rs.end(), [&](const BmapRange& r) {
                                return bmap_->range_end(r) <= offset;
                              }) - rs.begin());
    // Inside a checksummed range: re-read it from its start (not emitted)
    // so its checksum can still be verified.
    if (checker_ && ri_ < rs.size() && !rs[ri_].checksum.empty()) {
      uint64_t begin = bmap_->range_begin(rs[ri_]);
      if (begin < offset) {
        pos_ = begin;
        suppress_until_ = offset;
      }
    }
  }

  void check_so_far() override {
    if (checker_) checker_->drain();
  }

  bool next(Extent& out) override {
    if (checker_) checker_->rethrow();  // a range read earlier did not match
    out.data.clear();
    out.hole = false;
    out.mapped = true;
    for (;;) {
      if (done_) return false;
      if (end_ && pos_ >= *end_) {
        finish();
        return false;
      }
      uint64_t region_end = end_.value_or(UINT64_MAX);
      if (bmap_) {
        const auto& rs = bmap_->ranges;
        while (ri_ < rs.size() && bmap_->range_end(rs[ri_]) <= pos_) ++ri_;
        uint64_t mapped_start = ri_ < rs.size() ? bmap_->range_begin(rs[ri_]) : *end_;
        if (pos_ < mapped_start) {  // unmapped: nothing to read or send
          out.offset = pos_;
          out.length = mapped_start - pos_;
          out.hole = true;
          out.mapped = false;
          pos_ = mapped_start;
          return true;
        }
        region_end = bmap_->range_end(rs[ri_]);
      }
      read_until_ = bmap_ ? region_end : UINT64_MAX;
      if (pos_ < suppress_until_) {  // re-read for the checksum only
        uint64_t stop = std::min(suppress_until_, region_end);
        while (pos_ < stop) {
          size_t want = static_cast<size_t>(std::min<uint64_t>(stop - pos_, buf_.size()));
          size_t avail = ensure(pos_, want);
          if (avail == 0) truncated();
          size_t n = std::min(avail, want);
          consume(pos_, n);
          pos_ += n;
        }
        continue;
      }
      if (classify(out, region_end)) return true;
    }
  }

 private:
  // The block [pos_, block_end): zero-block aligned, cut by region/image end.
  uint64_t block_end(uint64_t region_end) const {
    uint64_t zb = opt_.zero_block;
    uint64_t e = (pos_ / zb + 1) * zb;
    return std::min(e, region_end);
  }

  // Emits one run of zero blocks (a hole) or data blocks starting at pos_.
  // False when the stream ended exactly at pos_ (size was unknown).
  bool classify(Extent& out, uint64_t region_end) {
    bool first = true;
    bool zero_run = false;
    out.offset = pos_;
    out.length = 0;
    while (pos_ < region_end) {
      uint64_t be = block_end(region_end);
      size_t want = static_cast<size_t>(be - pos_);
      size_t avail = ensure(pos_, want);
      if (avail < want) {  // end of stream inside this block
        if (end_) truncated();
        want = avail;
        end_ = pos_ + avail;
        region_end = *end_;
        if (want == 0) break;
      }
      const uint8_t* p = buf_.data() + (pos_ - buf_off_);
      bool zero = opt_.detect_zeros && is_zero(p, want);
      if (first) {
        zero_run = zero;
        first = false;
        if (!zero) out.data.reserve(opt_.max_extent);
      } else if (zero != zero_run || (!zero && out.data.size() + want > opt_.max_extent)) {
        break;
      }
      if (!zero) out.data.insert(out.data.end(), p, p + want);
      consume(pos_, want);
      pos_ += want;
      out.length += want;
    }
    if (out.length == 0) return false;
    out.hole = zero_run;
    out.mapped = true;
    return true;
  }

  // Makes [off, off+need) available in buf_ as far as the stream has it;
  // returns the bytes available from off (< need only at the end).
  size_t ensure(uint64_t off, size_t need) {
    uint64_t buf_end = buf_off_ + buf_len_;
    if (off < buf_off_ || off > buf_end) {
      buf_off_ = off;
      buf_len_ = 0;
      stream_eof_ = false;
      if (s_->position() != off) s_->seek(off);
    } else if (off + need > buf_end) {
      size_t keep = static_cast<size_t>(buf_end - off);
      std::memmove(buf_.data(), buf_.data() + (off - buf_off_), keep);
      buf_off_ = off;
      buf_len_ = keep;
    }
    while (buf_len_ < (off - buf_off_) + need && !stream_eof_) {
      size_t room = buf_.size() - buf_len_;
      // With a .bmap, read no further than the mapped range: the gap after
      // it is not needed, and reading a sparse file's hole costs the kernel
      // zero-filling pages (it was most of the reader's system time).
      uint64_t have_to = buf_off_ + buf_len_;
      if (read_until_ > have_to)
        room = static_cast<size_t>(std::min<uint64_t>(room, std::max(read_until_ - have_to, off + need - have_to)));
      size_t r = s_->read(buf_.data() + buf_len_, room);
      if (r == 0) stream_eof_ = true;
      buf_len_ += r;
    }
    return static_cast<size_t>(std::min<uint64_t>(buf_off_ + buf_len_ - off, need));
  }

  // Hands bytes of a checksummed .bmap range to the checker, which checks
  // it at the range's end (in its own thread).
  void consume(uint64_t off, size_t n) {
    if (!checker_ || ri_ >= bmap_->ranges.size()) return;
    const BmapRange& r = bmap_->ranges[ri_];
    if (r.checksum.empty()) return;
    uint64_t begin = bmap_->range_begin(r);
    uint64_t end = bmap_->range_end(r);
    if (off == begin) {
      checker_->begin(ri_);
      hash_valid_ = true;
      hashed_to_ = begin;
    }
    if (!hash_valid_ || off != hashed_to_) {  // cannot happen: seek() restarts at the range start
      hash_valid_ = false;
      return;
    }
    checker_->update(buf_.data() + (off - buf_off_), n);
    hashed_to_ = off + n;
    if (hashed_to_ == end) {
      hash_valid_ = false;
      checker_->end(ri_);
    }
  }

  RangeMismatch mismatch(const BmapRange& r, const std::string& got) const {
    const uint64_t begin = bmap_->range_begin(r), end = bmap_->range_end(r);
    return RangeMismatch(describe() + ": data does not match the bmap: range " + std::to_string(r.first) + "-" +
                             std::to_string(r.last) + " (" + bmap_->path + ":" + std::to_string(r.line) +
                             ", bytes " + std::to_string(begin) + "-" + std::to_string(end - 1) + ") has " +
                             bmap_->checksum_type + " " + got + ", the bmap records " + r.checksum,
                         begin, end);
  }

  [[noreturn]] void truncated() {
    throw SourceError(describe() + ": truncated: the image ends at byte " + std::to_string(buf_off_ + buf_len_) +
                      " but it should be " + std::to_string(*end_) + " bytes" +
                      (bmap_ ? " (bmap ImageSize)" : ""));
  }

  // At the image's end the stream must end too: a short one is found by
  // reading its last byte (a compressed stream after a trailing unmapped
  // range is decompressed to there), a longer one (a gzip whose ISIZE
  // wrapped, a .bmap for another image) by reading one more.
  void finish() {
    done_ = true;
    read_until_ = UINT64_MAX;
    if (checker_) checker_->drain();  // the image is not done before its last range is checked
    if (!end_ || *end_ == 0) return;
    // The stream already ended exactly here: neither short nor long. Asking
    // again would seek back, and a compressed stream seeks back by
    // decompressing from its start (a whole second download over http).
    if (stream_eof_ && buf_off_ + buf_len_ == *end_) return;
    if (ensure(*end_ - 1, 1) != 1) truncated();
    if (ensure(*end_, 1) != 0)
      throw SourceError(describe() + ": the stream has more than the " + std::to_string(*end_) + " bytes " +
                        (bmap_ ? "its bmap's ImageSize says" : "its size said"));
  }

  std::unique_ptr<ByteStream> s_;
  std::optional<Bmap> bmap_;
  OpenOptions opt_;
  std::optional<uint64_t> end_;
  uint64_t pos_ = 0;
  uint64_t suppress_until_ = 0;
  bool done_ = false;
  std::vector<uint8_t> buf_;
  uint64_t buf_off_ = 0;
  size_t buf_len_ = 0;
  bool stream_eof_ = false;
  uint64_t read_until_ = UINT64_MAX;  // reads stop here (end of the mapped range)
  size_t ri_ = 0;
  std::unique_ptr<RangeChecker> checker_;  // after bmap_ and s_: stops before they go
  bool hash_valid_ = false;
  uint64_t hashed_to_ = 0;
};

}  // namespace

std::unique_ptr<ImageReader> open_image(const std::string& path_or_url, const OpenOptions& options) {
  if (path_or_url.empty()) throw SourceError("no image given");
  std::optional<Bmap> bmap;
  if (!options.bmap_path.empty()) bmap = parse_bmap_file(options.bmap_path);

  std::unique_ptr<ByteStream> stream;
  uint8_t head[8] = {};
  if (is_url(path_or_url)) {
    HttpOptions hopt;
    hopt.retries = options.http_retries;
    auto http = std::make_unique<HttpStream>(path_or_url, hopt);
    size_t n = http->peek(head, sizeof head);
    Compression kind = detect_compression(head, n);
    // Content-Length is the compressed size: no uncompressed size over http.
    if (kind != Compression::none)
      stream = decompress(std::move(http), kind, std::nullopt);
    else
      stream = std::move(http);
  } else {
    auto file = open_file_stream(path_or_url);
    size_t n = read_full(*file, head, sizeof head);
    file->seek(0);
    Compression kind = detect_compression(head, n);
    if (kind != Compression::none) {
      // With a .bmap, ImageSize is authoritative.
      auto hint = bmap ? std::nullopt : recorded_size(path_or_url, kind);
      stream = decompress(std::move(file), kind, hint);
    } else {
      stream = std::move(file);
    }
  }
  auto reader = std::make_unique<ExtentReader>(std::move(stream), std::move(bmap), options);
  if (options.prefetch_bytes == 0) return reader;
  return prefetch(std::move(reader), options.prefetch_bytes);
}

}  // namespace source
