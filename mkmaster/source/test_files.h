#pragma once
// Helpers shared by this folder's tests: temp dirs, test images, compressed
// copies (written with libarchive, no CLI tools), a local HTTP server.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mkmaster/source/compression.h"
#include "mkmaster/source/image_reader.h"

namespace source::test {

using Bytes = std::vector<uint8_t>;

struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
  std::string file(const std::string& name) const { return path + "/" + name; }
};

void write_file(const std::string& path, const Bytes& data);
void write_file(const std::string& path, const std::string& text);
Bytes read_file(const std::string& path);

// `size` bytes: random data in some blocks, zeros elsewhere (seeded).
Bytes make_image(size_t size, uint32_t block, double data_fraction, uint32_t seed);
Bytes compress(const Bytes& data, Compression kind);

// Reads every extent; returns the image they describe (holes as zeros).
struct Collected {
  Bytes image;
  std::vector<Extent> extents;  // without their data
  uint64_t data_bytes = 0, hole_bytes = 0;
};
Collected collect(ImageReader& r);

// A bmaptool-style 2.0 .bmap for `image` mapping the block ranges given
// (first, last inclusive), with sha256 per range and BmapFileChecksum.
std::string make_bmap(const Bytes& image, uint32_t block, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                      bool checksums = true);

// mkmaster/source/testdata/range_http_server.py serving `root` on 127.0.0.1.
struct HttpServer {
  explicit HttpServer(const std::string& root);
  ~HttpServer();
  std::string url(const std::string& path) const;
  std::string log() const;  // GET /_log
  // Body bytes the server has sent for `path` ("/img.gz") so far.
  uint64_t bytes_sent(const std::string& path) const;
  pid_t pid = -1;
  int port = 0;
};

}  // namespace source::test
