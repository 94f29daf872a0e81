#include "mkmaster/initrd/cpio_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/core.h>
#include <lzma.h>

#include <memory>
#include <vector>
#include <sys/stat.h>

namespace initrd {

Compression parse_compression(std::string_view name) {
  if (name == "gzip") return Compression::Gzip;
  if (name == "zstd") return Compression::Zstd;
  if (name == "xz") return Compression::Xz;
  if (name == "none") return Compression::None;
  throw CpioError(fmt::format("unknown compression '{}' (expected gzip, zstd, xz or none)", name));
}

std::string_view compression_name(Compression c) {
  switch (c) {
    case Compression::Gzip: return "gzip";
    case Compression::Zstd: return "zstd";
    case Compression::Xz: return "xz";
    case Compression::None: return "none";
  }
  return "?";
}

namespace {

// "/bin//bash" → "bin/bash"; rejects what could escape the archive root.
std::string normalise(std::string_view path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part == "." || part == "..")
      throw CpioError(fmt::format("archive path '{}' contains '{}'", path, part));
    if (!part.empty()) {
      if (!out.empty()) out += '/';
      out += part;
    }
    i = j;
  }
  if (out.empty()) throw CpioError(fmt::format("empty archive path '{}'", path));
  return out;
}

bool same(const CpioEntry& a, const CpioEntry& b) {
  return a.kind == b.kind && a.mode == b.mode && a.data == b.data && a.rdev_major == b.rdev_major &&
         a.rdev_minor == b.rdev_minor;
}

std::string_view kind_name(CpioEntry::Kind k) {
  switch (k) {
    case CpioEntry::Kind::File: return "file";
    case CpioEntry::Kind::Dir: return "directory";
    case CpioEntry::Kind::Symlink: return "symlink";
    case CpioEntry::Kind::CharDev: return "device";
  }
  return "?";
}

}  // namespace

void CpioImage::add(std::string_view path, CpioEntry entry) {
  std::string key = normalise(path);
  // Parents first, so the kernel's unpacker can create every entry.
  for (size_t slash = key.find('/'); slash != std::string::npos; slash = key.find('/', slash + 1)) {
    std::string parent = key.substr(0, slash);
    auto it = entries_.find(parent);
    if (it == entries_.end()) {
      entries_.emplace(parent, CpioEntry{CpioEntry::Kind::Dir, 0755, {}, 0, 0});
    } else if (it->second.kind != CpioEntry::Kind::Dir) {
      throw CpioError(fmt::format("cannot add /{}: /{} is a {}, not a directory", key, parent,
                                  kind_name(it->second.kind)));
    }
  }
  auto [it, inserted] = entries_.emplace(key, entry);
  if (inserted || same(it->second, entry)) return;
  // An implicit parent directory may later be declared with its own mode.
  if (it->second.kind == CpioEntry::Kind::Dir && entry.kind == CpioEntry::Kind::Dir) {
    it->second.mode = entry.mode;
    return;
  }
  throw CpioError(fmt::format("/{} added twice with different contents ({} vs {})", key,
                              kind_name(it->second.kind), kind_name(entry.kind)));
}

void CpioImage::add_file(std::string_view path, uint32_t mode, std::string data) {
  add(path, CpioEntry{CpioEntry::Kind::File, mode & 07777, std::move(data), 0, 0});
}
void CpioImage::add_dir(std::string_view path, uint32_t mode) {
  add(path, CpioEntry{CpioEntry::Kind::Dir, mode & 07777, {}, 0, 0});
}
void CpioImage::add_symlink(std::string_view path, std::string target) {
  if (target.empty()) throw CpioError(fmt::format("symlink {} has an empty target", path));
  add(path, CpioEntry{CpioEntry::Kind::Symlink, 0777, std::move(target), 0, 0});
}
void CpioImage::add_char_device(std::string_view path, uint32_t mode, uint32_t major, uint32_t minor) {
  add(path, CpioEntry{CpioEntry::Kind::CharDev, mode & 07777, {}, major, minor});
}

const CpioEntry* CpioImage::find(std::string_view path) const {
  auto it = entries_.find(normalise(path));
  return it == entries_.end() ? nullptr : &it->second;
}
bool CpioImage::contains(std::string_view path) const { return find(path) != nullptr; }

uint64_t CpioImage::payload_bytes() const {
  uint64_t n = 0;
  for (const auto& [_, e] : entries_) n += e.data.size();
  return n;
}

namespace {

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t append_cb(archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

void check(archive* a, int rc, std::string_view what) {
  if (rc < ARCHIVE_WARN)
    throw CpioError(fmt::format("writing cpio: {}: {}", what, archive_error_string(a) ? archive_error_string(a) : "?"));
}

// libarchive's xz filter always writes a CRC64 check, which the kernel's
// XZ decoder rejects ("Input was encoded with settings that are not
// supported"): compress with liblzma and CRC32, as `xz --check=crc32` does
// for mkinitramfs.
std::string xz_for_kernel(const std::string& in) {
  std::string out(lzma_stream_buffer_bound(in.size()), '\0');
  size_t pos = 0;
  lzma_ret rc = lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, nullptr, reinterpret_cast<const uint8_t*>(in.data()),
                                        in.size(), reinterpret_cast<uint8_t*>(out.data()), &pos, out.size());
  if (rc != LZMA_OK) throw CpioError(fmt::format("writing cpio: xz compression failed (lzma error {})", int(rc)));
  out.resize(pos);
  return out;
}

}  // namespace

std::string write_cpio(const CpioImage& image, Compression compression, int64_t mtime,
                       const std::string& gzip_cache_dir, GzipStats* stats) {
  std::string out;  // before `a`: freeing the archive may still flush into it
  std::unique_ptr<archive, ArchiveDeleter> a(archive_write_new());
  if (!a) throw CpioError("writing cpio: out of memory");
  check(a.get(), archive_write_set_format_cpio_newc(a.get()), "newc format");
  switch (compression) {
    case Compression::Zstd:
      check(a.get(), archive_write_add_filter_zstd(a.get()), "zstd filter");
      break;
    case Compression::Gzip:  // compressed below, from cacheable segments (gzip_segments.h)
    case Compression::Xz:    // compressed below: the kernel needs a CRC32 check
    case Compression::None:
      break;
  }
  // No padding to tar-style 10 KiB blocks (the kernel needs none), and no
  // buffering, so `out` grows with each write and file data offsets are known.
  check(a.get(), archive_write_set_bytes_per_block(a.get(), 0), "block size");
  check(a.get(), archive_write_set_bytes_in_last_block(a.get(), 1), "block size");
  std::vector<ByteRange> data_ranges;
  check(a.get(), archive_write_open(a.get(), &out, nullptr, append_cb, nullptr), "open");

  std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
  int64_t ino = 0;
  for (const auto& [path, entry] : image.entries()) {
    archive_entry_clear(e.get());
    archive_entry_set_pathname(e.get(), path.c_str());
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), mtime, 0);
    archive_entry_set_dev(e.get(), 0);
    // Unique per entry and independent of the host: the kernel treats
    // entries sharing (dev, ino) with nlink > 1 as hard links.
    archive_entry_set_ino64(e.get(), ++ino);
    archive_entry_set_size(e.get(), 0);
    switch (entry.kind) {
      case CpioEntry::Kind::File:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_nlink(e.get(), 1);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(entry.data.size()));
        break;
      case CpioEntry::Kind::Dir:
        archive_entry_set_filetype(e.get(), AE_IFDIR);
        archive_entry_set_nlink(e.get(), 2);
        break;
      case CpioEntry::Kind::Symlink:
        archive_entry_set_filetype(e.get(), AE_IFLNK);
        archive_entry_set_nlink(e.get(), 1);
        archive_entry_set_symlink(e.get(), entry.data.c_str());
        break;
      case CpioEntry::Kind::CharDev:
        archive_entry_set_filetype(e.get(), AE_IFCHR);
        archive_entry_set_nlink(e.get(), 1);
        archive_entry_set_rdevmajor(e.get(), entry.rdev_major);
        archive_entry_set_rdevminor(e.get(), entry.rdev_minor);
        break;
    }
    archive_entry_set_perm(e.get(), entry.mode);
    check(a.get(), archive_write_header(a.get(), e.get()), "/" + path);
    if (entry.kind == CpioEntry::Kind::File && !entry.data.empty()) {
      data_ranges.push_back({out.size(), out.size() + entry.data.size()});
      la_ssize_t n = archive_write_data(a.get(), entry.data.data(), entry.data.size());
      if (n < 0 || static_cast<size_t>(n) != entry.data.size()) check(a.get(), ARCHIVE_FATAL, "/" + path);
    }
  }
  check(a.get(), archive_write_close(a.get()), "close");
  if (compression == Compression::Xz) return xz_for_kernel(out);
  if (compression == Compression::Gzip) {
    a.reset();
    return gzip_segmented(out, data_ranges, gzip_cache_dir, 6, stats);
  }
  return out;
}

}  // namespace initrd
