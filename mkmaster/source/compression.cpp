#include "mkmaster/source/compression.h"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_findDecompressedSize walks all frames
#include <fcntl.h>
#include <lzma.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <vector>

#include "base/unique_fd.h"

namespace source {

Compression detect_compression(const uint8_t* h, size_t n) {
  auto starts = [&](std::initializer_list<uint8_t> magic) {
    if (n < magic.size()) return false;
    return std::equal(magic.begin(), magic.end(), h);
  };
  if (starts({0x1f, 0x8b})) return Compression::gzip;
  if (starts({0xfd, '7', 'z', 'X', 'Z', 0x00})) return Compression::xz;
  if (starts({0x28, 0xb5, 0x2f, 0xfd})) return Compression::zstd;
  // "BZh" then the block size digit 1-9: a raw image starting with "BZh"
  // followed by something else stays raw.
  if (n >= 4 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h' && h[3] >= '1' && h[3] <= '9')
    return Compression::bzip2;
  return Compression::none;
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::none: return "raw";
    case Compression::gzip: return "gzip";
    case Compression::xz: return "xz";
    case Compression::zstd: return "zstd";
    case Compression::bzip2: return "bzip2";
  }
  return "?";
}

namespace {

std::optional<uint64_t> xz_size(int fd, uint64_t file_size) {
  // liblzma's file-info decoder reads the stream footers and indexes; it asks
  // for the bytes it needs by setting seek_pos.
  lzma_stream strm = LZMA_STREAM_INIT;
  lzma_index* index = nullptr;
  if (lzma_file_info_decoder(&strm, &index, UINT64_MAX, file_size) != LZMA_OK) return std::nullopt;
  std::vector<uint8_t> buf(64 * 1024);
  uint64_t pos = 0;
  std::optional<uint64_t> result;
  for (;;) {
    if (strm.avail_in == 0) {
      ssize_t r = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(pos));
      if (r <= 0) break;
      strm.next_in = buf.data();
      strm.avail_in = static_cast<size_t>(r);
      pos += static_cast<uint64_t>(r);
    }
    lzma_ret ret = lzma_code(&strm, LZMA_RUN);
    if (ret == LZMA_SEEK_NEEDED) {
      pos = strm.seek_pos;
      strm.avail_in = 0;
      continue;
    }
    if (ret == LZMA_STREAM_END) {
      result = lzma_index_uncompressed_size(index);
      break;
    }
    if (ret != LZMA_OK) break;
  }
  if (index) lzma_index_end(index, nullptr);
  lzma_end(&strm);
  return result;
}

std::optional<uint64_t> zstd_size(int fd, uint64_t file_size) {
  if (file_size == 0) return std::nullopt;
  void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) return std::nullopt;
  // Only the frame and block headers are touched, not the payload.
  unsigned long long n = ZSTD_findDecompressedSize(map, file_size);
  ::munmap(map, file_size);
  if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR) return std::nullopt;
  return n;
}

}  // namespace

std::optional<uint64_t> recorded_size(const std::string& path, Compression c) {
  const base::UniqueFd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!f || ::fstat(f.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  auto size = static_cast<uint64_t>(st.st_size);
  switch (c) {
    case Compression::xz: return xz_size(f.get(), size);
    case Compression::zstd: return zstd_size(f.get(), size);
    case Compression::gzip:
    case Compression::bzip2:
    case Compression::none: break;
  }
  return std::nullopt;
}

}  // namespace source
