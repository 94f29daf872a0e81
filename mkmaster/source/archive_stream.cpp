#include "mkmaster/source/archive_stream.h"

#include <archive.h>
#include <archive_entry.h>

#include <vector>

#include "mkmaster/source/image_reader.h"

namespace source {

namespace {

class ArchiveStream final : public ByteStream {
 public:
  ArchiveStream(std::unique_ptr<ByteStream> inner, Compression kind, std::optional<uint64_t> hint)
      : inner_(std::move(inner)), kind_(kind), hint_(hint), in_buf_(1 << 20), skip_buf_(1 << 20) {
    try {
      start();
    } catch (...) {
      close();  // the destructor does not run for a throwing constructor
      throw;
    }
  }
  ~ArchiveStream() override { close(); }

  size_t read(uint8_t* buf, size_t n) override {
    if (eof_) return 0;
    la_ssize_t r = archive_read_data(a_, buf, n);
    if (r < 0) fail(damage() + " (uncompressed offset " + std::to_string(pos_) + ")");
    if (r == 0) {
      eof_ = true;
      if (hint_ && pos_ != *hint_) size_mismatch();
      return 0;
    }
    pos_ += static_cast<uint64_t>(r);
    if (hint_ && pos_ > *hint_) size_mismatch();
    return static_cast<size_t>(r);
  }

  std::optional<uint64_t> size() const override { return hint_; }

  void seek(uint64_t offset) override {
    if (offset < pos_) {  // a compressed stream only goes forward: restart
      close();
      inner_->seek(0);
      start();
    }
    while (pos_ < offset) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(skip_buf_.size(), offset - pos_));
      if (read(skip_buf_.data(), want) == 0) {
        throw SourceError(describe() + ": truncated: the image ends at byte " + std::to_string(pos_) +
                          ", it should reach at least " + std::to_string(offset));
      }
    }
  }
  uint64_t position() const override { return pos_; }
  std::string describe() const override {
    return inner_->describe() + " (" + compression_name(kind_) + ")";
  }

 private:
  static la_ssize_t read_cb(struct archive* a, void* self_v, const void** out) {
    auto* self = static_cast<ArchiveStream*>(self_v);
    try {
      size_t r = self->inner_->read(self->in_buf_.data(), self->in_buf_.size());
      if (r == 0) self->inner_eof_ = true;
      *out = self->in_buf_.data();
      return static_cast<la_ssize_t>(r);
    } catch (const std::exception& e) {
      // Keep the inner error (e.g. an HTTP failure) for our own message.
      self->inner_error_ = e.what();
      archive_set_error(a, EIO, "%s", e.what());
      return -1;
    }
  }

  void start() {
    pos_ = 0;
    eof_ = false;
    inner_eof_ = false;
    inner_error_.clear();
    a_ = archive_read_new();
    archive_read_support_filter_all(a_);
    archive_read_support_format_raw(a_);
    if (archive_read_open(a_, this, nullptr, &ArchiveStream::read_cb, nullptr) != ARCHIVE_OK)
      fail(damage() + ": cannot open the compressed stream");
    struct archive_entry* entry = nullptr;
    if (archive_read_next_header(a_, &entry) != ARCHIVE_OK) fail(damage() + ": cannot read the compressed stream");
  }

  void close() {
    if (a_) archive_read_free(a_);
    a_ = nullptr;
  }

  [[noreturn]] void fail(const std::string& what) {
    std::string msg = describe() + ": " + what + ": ";
    msg += inner_error_.empty() ? (archive_error_string(a_) ? archive_error_string(a_) : "unknown error")
                                : inner_error_;
    throw SourceError(msg);
  }

  // What a decoder error means. libarchive reads ahead, so the input having
  // ended is not enough for "truncated": the decoder must say it ran out
  // too (xz: LZMA_BUF_ERROR, "No progress is possible").
  std::string damage() const {
    if (!inner_error_.empty()) return "reading the compressed data failed";
    const char* m = archive_error_string(a_);
    std::string msg = m ? m : "";
    bool ran_out = msg.find("runcated") != std::string::npos || msg.find("No progress") != std::string::npos;
    if (inner_eof_ && ran_out) return "truncated: the compressed data ends before the stream does";
    return std::string("corrupt ") + compression_name(kind_) + " data";
  }

  [[noreturn]] void size_mismatch() {
    std::string msg = describe() + ": the stream holds " + (eof_ ? "" : "more than ") +
                      std::to_string(pos_) + " bytes but the container records " + std::to_string(*hint_);
    if (kind_ == Compression::gzip)
      msg += " (gzip's ISIZE is the size modulo 4 GiB and only the last member's: for images >= 4 GiB "
             "give the .bmap or use xz/zstd)";
    throw SourceError(msg);
  }

  std::unique_ptr<ByteStream> inner_;
  Compression kind_;
  std::optional<uint64_t> hint_;
  std::vector<uint8_t> in_buf_;
  std::vector<uint8_t> skip_buf_;
  struct archive* a_ = nullptr;
  uint64_t pos_ = 0;
  bool eof_ = false;
  bool inner_eof_ = false;  // the compressed input has ended
  std::string inner_error_;
};

}  // namespace

std::unique_ptr<ByteStream> open_archive_stream(std::unique_ptr<ByteStream> compressed, Compression kind,
                                                std::optional<uint64_t> size_hint) {
  return std::make_unique<ArchiveStream>(std::move(compressed), kind, size_hint);
}

}  // namespace source
