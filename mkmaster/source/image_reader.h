#pragma once
// An image to flash, as a stream of extents in increasing offset order:
// data (bytes to write) or holes (ranges that are all zero in the image, or
// unmapped in its .bmap). Sources: local raw files; .gz/.xz/.zst/.bz2
// decompressed on the fly (libarchive raw format + filters); http(s) URLs
// streamed with libcurl (range requests to resume). Never staged whole.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace source {

struct SourceError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A .bmap range whose data does not match its checksum. The push needs the
// bytes it covers to say what of it may already be on the target.
struct RangeMismatch : SourceError {
  RangeMismatch(const std::string& what, uint64_t range_begin, uint64_t range_end)
      : SourceError(what), begin(range_begin), end(range_end) {}
  uint64_t begin, end;  // the range's bytes, [begin, end)
};

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool hole = false;       // true: no data; `data` is empty
  bool mapped = true;      // false: unmapped in the .bmap ("don't care")
  // With hole: bytes the target already holds, as an image index and the
  // target's hashes showed (push::IndexedReader); not read, not sent.
  bool kept = false;
  std::vector<uint8_t> data;  // length bytes when !hole
};

struct OpenOptions {
  std::string bmap_path;             // optional .bmap (bmaptool format)
  uint32_t zero_block = 4096;        // granularity of zero detection
  uint32_t max_extent = 1u << 20;    // data extents are at most this long
  bool detect_zeros = true;          // false: every mapped byte is data
  bool verify_bmap = true;           // check the .bmap per-range checksums
  int http_retries = 5;              // resumes (Range requests) after a drop
  // Read ahead in a thread of its own (decompression, http, zero detection
  // and checksums overlap with the consumer); 0: read in next()'s thread.
  size_t prefetch_bytes = 16u << 20;
};

class ImageReader {
 public:
  virtual ~ImageReader() = default;
  // The next extent; false at the end of the image.
  virtual bool next(Extent& out) = 0;
  // Uncompressed image size when known before reading it all (raw files,
  // .bmap ImageSize, compressed formats that record it, Content-Length).
  virtual std::optional<uint64_t> size() const = 0;
  // Continue from `offset` (resume): seek, range request, or read and
  // discard for a compressed stream. Only forward of what next() returned
  // is required; re-opening handles the rest.
  virtual void seek(uint64_t offset) = 0;
  // For messages: "/path/img.raw.gz (gzip)", "http://…".
  virtual std::string describe() const = 0;
  // Waits until everything read so far is checked (.bmap range checksums
  // run behind the reader) and throws the first mismatch. A consumer that
  // stops before next() returned false (a dropped connection) calls it so
  // a bad range it already passed on is not forgotten; afterwards only
  // seek() or destruction may follow.
  virtual void check_so_far() {}
};

// Throws SourceError with a specific message (missing file, bad URL,
// truncated compressed stream, malformed .bmap with line number, …).
// next() also throws: a read error, a truncated image, or a .bmap range
// whose checksum does not match the data (RangeMismatch, naming the range
// and its line). next() returns false only after the end was checked: every
// range's checksum matched and the stream ended exactly at the image size
// (with a .bmap, ImageSize: a longer stream fails, a shorter one is
// truncated). A consumer must therefore read until next() returns false.
// Holes from zero detection have mapped=true (the bytes must be zero);
// unmapped .bmap ranges have mapped=false. Adjacent holes of the same kind
// are merged; data extents never cross a .bmap range boundary.
std::unique_ptr<ImageReader> open_image(const std::string& path_or_url, const OpenOptions& options);

}  // namespace source
