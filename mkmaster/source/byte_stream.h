#pragma once
// The byte level below ImageReader: a sequential stream of the image's bytes
// (a local file, an http(s) body, or the output of a decompressor) that can
// be repositioned. ImageReader turns it into data extents and holes.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace source {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  // Reads up to n bytes at position(); returns 0 only at the end of the
  // stream. Throws SourceError (I/O error, truncated input, HTTP failure).
  virtual size_t read(uint8_t* buf, size_t n) = 0;
  // Total length when known without reading everything.
  virtual std::optional<uint64_t> size() const = 0;
  // Next read() starts at `offset`. Cheap for files and raw http (a Range
  // request); compressed streams decompress and discard (or restart).
  virtual void seek(uint64_t offset) = 0;
  virtual uint64_t position() const = 0;
  virtual std::string describe() const = 0;
};

// Reads until `n` bytes or the end; returns the count.
size_t read_full(ByteStream& s, uint8_t* buf, size_t n);

}  // namespace source
