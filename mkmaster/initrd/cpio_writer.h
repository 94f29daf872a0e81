#pragma once
// The initrd archive: a newc cpio written with libarchive, optionally
// compressed. Reproducible by construction: entries are kept sorted by path,
// every missing parent directory is added, owners are 0:0, every mtime is
// the one SOURCE_DATE_EPOCH gives, inode numbers are the entry's index, and
// the gzip header carries neither a timestamp nor a file name. The cpio is
// written by libarchive; zstd by libarchive's filter, gzip and xz by zlib /
// liblzma directly (see write_cpio).
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

#include "mkmaster/initrd/gzip_segments.h"

namespace initrd {

struct CpioError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Compression { Gzip, Zstd, Xz, None };
// "gzip" | "zstd" | "xz" | "none"; throws CpioError naming the bad value.
Compression parse_compression(std::string_view name);
std::string_view compression_name(Compression c);

struct CpioEntry {
  enum class Kind { File, Dir, Symlink, CharDev };
  Kind kind = Kind::File;
  uint32_t mode = 0644;  // permission bits only
  std::string data;      // file contents, or the symlink target
  uint32_t rdev_major = 0, rdev_minor = 0;  // CharDev
};

// The archive's contents, keyed by path without the leading '/'.
class CpioImage {
 public:
  // Paths may be given with or without a leading '/'; "." and ".." parts and
  // empty paths are rejected. Adding the same path twice is fine when the
  // entry is identical (two tools sharing a library); a different entry
  // throws CpioError naming the path.
  void add_file(std::string_view path, uint32_t mode, std::string data);
  void add_dir(std::string_view path, uint32_t mode = 0755);
  void add_symlink(std::string_view path, std::string target);
  void add_char_device(std::string_view path, uint32_t mode, uint32_t major, uint32_t minor);

  bool contains(std::string_view path) const;
  const CpioEntry* find(std::string_view path) const;
  // Sorted by path; parents precede children.
  const std::map<std::string, CpioEntry>& entries() const { return entries_; }
  uint64_t payload_bytes() const;

 private:
  void add(std::string_view path, CpioEntry entry);
  std::map<std::string, CpioEntry> entries_;
};

// The (compressed) archive bytes. mtime: seconds since the epoch for every
// entry. gzip is level 6 from cacheable segments (gzip_segments.h;
// gzip_cache_dir empty = no cache); the bytes do not depend on the cache.
// Throws CpioError with libarchive's message on failure.
std::string write_cpio(const CpioImage& image, Compression compression, int64_t mtime,
                       const std::string& gzip_cache_dir = {}, GzipStats* stats = nullptr);

}  // namespace initrd
