#pragma once
// Byte ranges of an http(s) image, fetched with multi-range GETs
// (`Range: bytes=a-b,c-d,…`, answered 206 multipart/byteranges, or one part
// when the server merges them) on one keep-alive connection: a reflash that
// needs ten thousand scattered 4 KiB blocks costs some eighty requests, not
// ten thousand round trips.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mkmaster/source/image_reader.h"

namespace source {

struct ByteSpan {
  uint64_t begin = 0, end = 0;  // [begin, end)
};

// The server answered a range request with the whole body (200): it does not
// do Range. Nothing more than the response's first bytes was read.
struct NoRangeSupport : SourceError {
  using SourceError::SourceError;
};

class RangeFetcher {
 public:
  RangeFetcher(std::string url, long connect_timeout_s = 10, long stall_timeout_s = 30);
  ~RangeFetcher();
  RangeFetcher(const RangeFetcher&) = delete;
  RangeFetcher& operator=(const RangeFetcher&) = delete;

  // One request for `ranges` (sorted, disjoint, non-empty); their bytes, in
  // the same order. Throws NoRangeSupport, or SourceError for an HTTP error,
  // a part missing or malformed, a transfer that broke.
  std::vector<std::vector<uint8_t>> fetch(const std::vector<ByteSpan>& ranges);
  // The resource's size as the last Content-Range told it.
  std::optional<uint64_t> total_size() const { return total_; }
  uint64_t body_bytes() const { return body_bytes_; }  // response bodies, multipart headers included
  int requests() const { return requests_; }
  int connections() const { return connections_; }  // new connections the requests needed (keep-alive: 1)
  const std::string& url() const { return url_; }

  struct Transfer;

 private:
  std::string url_;
  long connect_timeout_s_, stall_timeout_s_;
  void* curl_ = nullptr;  // CURL*, kept: its connection is reused
  std::optional<uint64_t> total_;
  uint64_t body_bytes_ = 0;
  int requests_ = 0;
  int connections_ = 0;
};

// Where the index of `image_url` is looked for: its path with ".mkidx"
// appended (before a query string).
std::string index_url_for(const std::string& image_url);

}  // namespace source
