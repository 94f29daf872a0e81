#include "testing/source_images.h"

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <zstd.h>

#include <cstring>
#include <random>
#include <sstream>
#include <stdexcept>

#include "mkmaster/source/digest.h"

namespace mktest {

using source::Compression;
using source::Digest;
using source::Extent;

Bytes make_image(size_t size, uint32_t block, double data_fraction, uint32_t seed) {
  Bytes img(size, 0);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> pick(0, 1);
  for (size_t off = 0; off < size; off += block) {
    if (pick(rng) >= data_fraction) continue;
    size_t n = std::min<size_t>(block, size - off);
    for (size_t i = 0; i < n; ++i) img[off + i] = static_cast<uint8_t>(rng() | 1);  // never zero
  }
  return img;
}

namespace {
la_ssize_t append_cb(struct archive*, void* out_v, const void* buf, size_t n) {
  auto* out = static_cast<Bytes*>(out_v);
  out->insert(out->end(), static_cast<const uint8_t*>(buf), static_cast<const uint8_t*>(buf) + n);
  return static_cast<la_ssize_t>(n);
}
}  // namespace

Bytes compress(const Bytes& data, Compression kind, int level) {
  Bytes out;
  if (kind == Compression::zstd) {
    // As the zstd CLI writes files: content size in the frame header and a
    // content checksum (libarchive's writer records neither).
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    if (level >= 0) ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
    out.resize(ZSTD_compressBound(data.size()));
    size_t n = ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
    ZSTD_freeCCtx(cctx);
    if (ZSTD_isError(n)) throw std::runtime_error("ZSTD_compress2 failed");
    out.resize(n);
    return out;
  }
  struct archive* a = archive_write_new();
  switch (kind) {
    case Compression::gzip: archive_write_add_filter_gzip(a); break;
    case Compression::xz: archive_write_add_filter_xz(a); break;
    case Compression::zstd: archive_write_add_filter_zstd(a); break;
    case Compression::bzip2: archive_write_add_filter_bzip2(a); break;
    case Compression::none: break;
  }
  if (level >= 0 && kind != Compression::none)
    archive_write_set_filter_option(a, nullptr, "compression-level", std::to_string(level).c_str());
  archive_write_set_format_raw(a);
  archive_write_set_bytes_in_last_block(a, 1);  // no padding after the stream
  if (archive_write_open(a, &out, nullptr, &append_cb, nullptr) != ARCHIVE_OK)
    throw std::runtime_error(std::string("archive_write_open: ") + archive_error_string(a));
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "image");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  if (archive_write_header(a, e) != ARCHIVE_OK)
    throw std::runtime_error(std::string("archive_write_header: ") + archive_error_string(a));
  archive_entry_free(e);
  if (archive_write_data(a, data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
    throw std::runtime_error(std::string("archive_write_data: ") + archive_error_string(a));
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

Collected collect(source::ImageReader& r) {
  Collected c;
  Extent e;
  while (r.next(e)) {
    if (c.image.size() < e.offset + e.length) c.image.resize(e.offset + e.length, 0);
    if (!e.hole) {
      if (e.data.size() != e.length) throw std::runtime_error("data extent with wrong data size");
      std::memcpy(c.image.data() + e.offset, e.data.data(), e.length);
      c.data_bytes += e.length;
    } else {
      c.hole_bytes += e.length;
    }
    Extent meta = e;
    meta.data.clear();
    c.extents.push_back(std::move(meta));
  }
  return c;
}

std::string make_bmap(const Bytes& image, uint32_t block, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                      bool checksums) {
  uint64_t blocks = (image.size() + block - 1) / block;
  uint64_t mapped = 0;
  std::string body;
  for (auto [first, last] : ranges) {
    mapped += last - first + 1;
    std::string attr;
    if (checksums) {
      Digest d("sha256");
      uint64_t b = first * block, e = std::min<uint64_t>((last + 1) * block, image.size());
      d.update(image.data() + b, e - b);
      attr = " chksum=\"" + d.hex() + "\"";
    }
    body += "        <Range" + attr + "> " + std::to_string(first) + "-" + std::to_string(last) + " </Range>\n";
  }
  std::string zeros(64, '0');
  std::string text = "<?xml version=\"1.0\" ?>\n<bmap version=\"2.0\">\n"
                     "    <ImageSize> " + std::to_string(image.size()) + " </ImageSize>\n"
                     "    <BlockSize> " + std::to_string(block) + " </BlockSize>\n"
                     "    <BlocksCount> " + std::to_string(blocks) + " </BlocksCount>\n"
                     "    <MappedBlocksCount> " + std::to_string(mapped) + " </MappedBlocksCount>\n"
                     "    <ChecksumType> sha256 </ChecksumType>\n"
                     "    <BmapFileChecksum> " + zeros + " </BmapFileChecksum>\n"
                     "    <BlockMap>\n" + body + "    </BlockMap>\n</bmap>\n";
  Digest d("sha256");
  d.update(text.data(), text.size());
  text.replace(text.find(zeros), zeros.size(), d.hex());
  return text;
}

HttpServer::HttpServer(const std::string& root, bool keep_alive) {
  // The server prints "PORT n" once it listens.
  std::vector<std::string> argv{python3(), std::string(MKMASTER_SOURCE_TESTDATA) + "/range_http_server.py", "--root",
                                root, "--port", "0"};
  if (keep_alive) argv.push_back("--keep-alive");
  process_ = spawn(argv);
  port = read_port(process_, std::chrono::seconds(20));
}

std::string HttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port) + "/" + path;
}

namespace {
std::string get(const std::string& url) {
  std::string body;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, s * n);
    return s * n;
  });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(c);
  curl_easy_cleanup(c);
  return body;
}
}  // namespace

std::string HttpServer::log() const { return get(url("_log")); }

uint64_t HttpServer::bytes_sent(const std::string& path) const {
  std::istringstream in(get(url("_sent")));
  std::string p;
  uint64_t n = 0;
  while (in >> p >> n)
    if (p == path) return n;
  return 0;
}

}  // namespace mktest
