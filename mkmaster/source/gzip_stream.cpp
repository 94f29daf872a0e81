#include "mkmaster/source/gzip_stream.h"

#include <zlib.h>

#include <algorithm>
#include <vector>

#include "mkmaster/source/image_reader.h"

namespace source {

namespace {

class GzipStream final : public ByteStream {
 public:
  explicit GzipStream(std::unique_ptr<ByteStream> inner)
      : inner_(std::move(inner)), in_buf_(1 << 20), skip_buf_(1 << 20) {
    start();
  }
  ~GzipStream() override { inflateEnd(&zs_); }

  size_t read(uint8_t* buf, size_t n) override {
    if (eof_ || n == 0) return 0;
    zs_.next_out = buf;
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    const uInt want = zs_.avail_out;
    while (zs_.avail_out == want) {
      if (member_done_) {  // another member follows, or the end
        if (zs_.avail_in == 0 && !fill()) {
          eof_ = true;
          break;
        }
        inflateReset(&zs_);
        member_done_ = false;
      }
      if (zs_.avail_in == 0 && !fill()) fail("truncated: the compressed data ends inside a gzip member");
      int ret = inflate(&zs_, Z_NO_FLUSH);
      if (ret == Z_STREAM_END) {
        member_done_ = true;  // zlib has checked this member's CRC-32 and ISIZE
      } else if (ret == Z_BUF_ERROR) {
        continue;  // needs more input
      } else if (ret != Z_OK) {
        fail(std::string("corrupt gzip data: ") + (zs_.msg ? zs_.msg : "inflate error " + std::to_string(ret)));
      }
    }
    size_t got = want - zs_.avail_out;
    pos_ += got;
    return got;
  }

  std::optional<uint64_t> size() const override { return std::nullopt; }

  void seek(uint64_t offset) override {
    if (offset < pos_) {  // gzip only goes forward: restart
      inflateEnd(&zs_);
      inner_->seek(0);
      start();
    }
    while (pos_ < offset) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(skip_buf_.size(), offset - pos_));
      if (read(skip_buf_.data(), want) == 0)
        throw SourceError(describe() + ": truncated: the image ends at byte " + std::to_string(pos_) +
                          ", it should reach at least " + std::to_string(offset));
    }
  }
  uint64_t position() const override { return pos_; }
  std::string describe() const override { return inner_->describe() + " (gzip)"; }

 private:
  void start() {
    zs_ = z_stream{};
    if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw SourceError(describe() + ": inflateInit2 failed");
    pos_ = 0;
    eof_ = false;
    member_done_ = false;
    compressed_pos_ = 0;
  }

  bool fill() {
    size_t r = inner_->read(in_buf_.data(), in_buf_.size());
    zs_.next_in = in_buf_.data();
    zs_.avail_in = static_cast<uInt>(r);
    compressed_pos_ += r;
    return r > 0;
  }

  [[noreturn]] void fail(const std::string& what) {
    throw SourceError(describe() + ": " + what + " (compressed offset " +
                      std::to_string(compressed_pos_ - zs_.avail_in) + ", image offset " + std::to_string(pos_) + ")");
  }

  std::unique_ptr<ByteStream> inner_;
  std::vector<uint8_t> in_buf_, skip_buf_;
  z_stream zs_{};
  uint64_t pos_ = 0, compressed_pos_ = 0;
  bool eof_ = false, member_done_ = false;
};

}  // namespace

std::unique_ptr<ByteStream> open_gzip_stream(std::unique_ptr<ByteStream> compressed) {
  return std::make_unique<GzipStream>(std::move(compressed));
}

}  // namespace source
