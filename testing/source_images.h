#pragma once
// Inputs for the image-source tests: test images, compressed copies
// (written with libarchive, no CLI tools), .bmap files, a local HTTP server.
#include <cstdint>
#include <string>
#include <vector>

#include "mkmaster/source/compression.h"
#include "mkmaster/source/image_reader.h"
#include "testing/child.h"
#include "testing/files.h"

namespace mktest {

// `size` bytes: random data in some blocks, zeros elsewhere (seeded).
Bytes make_image(size_t size, uint32_t block, double data_fraction, uint32_t seed);
// level: the format's compression level, -1 its default (lower levels are
// faster where a test compresses many images).
Bytes compress(const Bytes& data, source::Compression kind, int level = -1);

// Reads every extent; returns the image they describe (holes as zeros).
struct Collected {
  Bytes image;
  std::vector<source::Extent> extents;  // without their data
  uint64_t data_bytes = 0, hole_bytes = 0;
};
Collected collect(source::ImageReader& r);

// A bmaptool-style 2.0 .bmap for `image` mapping the block ranges given
// (first, last inclusive), with sha256 per range and BmapFileChecksum.
std::string make_bmap(const Bytes& image, uint32_t block, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                      bool checksums = true);

// mkmaster/source/testdata/range_http_server.py serving `root` on 127.0.0.1
// (keep_alive: HTTP/1.1, connections stay open between requests).
// Stopped when it goes out of scope.
struct HttpServer {
  explicit HttpServer(const std::string& root, bool keep_alive = false);
  std::string url(const std::string& path) const;
  std::string log() const;  // GET /_log
  // Body bytes the server has sent for `path` ("/img.gz") so far.
  uint64_t bytes_sent(const std::string& path) const;
  int port = 0;

 private:
  Child process_;
};

}  // namespace mktest
