#pragma once
// An http(s) body streamed with libcurl. A producer thread runs the transfer
// into a bounded ring buffer (so download overlaps with whatever consumes the
// stream, and memory stays bounded); seek() and resume after a dropped
// connection use `Range:` requests from the consumer's position.
#include <cstddef>
#include <memory>
#include <string>

#include "mkmaster/source/byte_stream.h"

namespace source {

struct HttpOptions {
  size_t buffer_bytes = 8u << 20;  // ring buffer between curl and the reader
  int retries = 5;                 // resumes (Range from the current position) per stream
  long connect_timeout_s = 10;
  long stall_timeout_s = 30;       // abort a transfer that moves < 1 byte/s this long
};

class HttpStream final : public ByteStream {
 public:
  // Starts the transfer and waits for the response headers: a bad status
  // (anything but 200/206), a refused connection or a bad URL throws here.
  HttpStream(std::string url, HttpOptions options);
  ~HttpStream() override;

  size_t read(uint8_t* buf, size_t n) override;
  // Content-Length (or the total of Content-Range): the size of the body,
  // which is the image's size only for uncompressed images.
  std::optional<uint64_t> size() const override;
  void seek(uint64_t offset) override;
  uint64_t position() const override;
  std::string describe() const override;

  // Copies up to n upcoming bytes without consuming them (magic detection).
  size_t peek(uint8_t* buf, size_t n);
  // How many transfers this stream started (first one, seeks, resumes).
  int requests() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

bool is_url(const std::string& s);

}  // namespace source
