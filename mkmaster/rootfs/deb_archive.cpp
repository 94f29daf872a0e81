// Reading one .deb in place with libarchive: the outer reader walks the
// `ar` container, a second reader is fed the data.tar.* member through a
// callback (no temporary file, no unpacking to disk).
#include "mkmaster/rootfs/deb_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>
#include <lzma.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "mkmaster/rootfs/file_source.h"
#include "mkmaster/rootfs/path_util.h"

namespace rootfs {
namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveFree>;

std::string err_of(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

// Feeds the inner (tar) reader from the current member of the outer (ar).
struct Feed {
  archive* outer;
  std::string buf = std::string(256 * 1024, '\0');
  static la_ssize_t read(archive* inner, void* ctx, const void** out) {
    auto* f = static_cast<Feed*>(ctx);
    la_ssize_t n = archive_read_data(f->outer, f->buf.data(), f->buf.size());
    if (n < 0) {
      archive_set_error(inner, EIO, "%s", err_of(f->outer).c_str());
      return -1;
    }
    *out = f->buf.data();
    return n;
  }
};

// dpkg writes data.tar.xz as independent blocks (threaded xz), so
// liblzma's threaded decoder can use every core where libarchive's xz filter
// uses one: the kernel .deb (~200 MB unpacked) is most of a --debs build.
// The tar reader then sees an uncompressed stream.
struct XzFeed {
  archive* outer;
  lzma_stream strm = LZMA_STREAM_INIT;
  std::string in = std::string(256 * 1024, '\0');
  std::string out = std::string(1024 * 1024, '\0');
  bool in_eof = false, done = false;

  explicit XzFeed(archive* o) : outer(o) {
    lzma_mt mt{};
    mt.flags = LZMA_CONCATENATED;
    mt.threads = std::clamp<uint32_t>(lzma_cputhreads(), 1, 8);
    mt.memlimit_threading = 1024ull << 20;  // above it liblzma decodes single-threaded
    mt.memlimit_stop = UINT64_MAX;
    if (lzma_stream_decoder_mt(&strm, &mt) != LZMA_OK) throw RootfsError("cannot start the xz decoder");
  }
  ~XzFeed() { lzma_end(&strm); }
  XzFeed(const XzFeed&) = delete;
  XzFeed& operator=(const XzFeed&) = delete;

  static const char* why(lzma_ret r) {
    switch (r) {
      case LZMA_BUF_ERROR: return "xz: truncated input";
      case LZMA_DATA_ERROR: return "xz: corrupt data";
      case LZMA_FORMAT_ERROR: return "xz: not in xz format";
      case LZMA_OPTIONS_ERROR: return "xz: unsupported options";
      case LZMA_MEM_ERROR:
      case LZMA_MEMLIMIT_ERROR: return "xz: out of memory";
      default: return "xz: decoder error";
    }
  }

  static la_ssize_t read(archive* inner, void* ctx, const void** result) {
    auto* f = static_cast<XzFeed*>(ctx);
    if (f->done) return 0;
    f->strm.next_out = reinterpret_cast<uint8_t*>(f->out.data());
    f->strm.avail_out = f->out.size();
    while (f->strm.avail_out == f->out.size()) {
      if (f->strm.avail_in == 0 && !f->in_eof) {
        la_ssize_t n = archive_read_data(f->outer, f->in.data(), f->in.size());
        if (n < 0) {
          archive_set_error(inner, EIO, "%s", err_of(f->outer).c_str());
          return -1;
        }
        f->in_eof = n == 0;
        f->strm.next_in = reinterpret_cast<const uint8_t*>(f->in.data());
        f->strm.avail_in = static_cast<size_t>(n);
      }
      lzma_ret r = lzma_code(&f->strm, f->in_eof ? LZMA_FINISH : LZMA_RUN);
      if (r == LZMA_STREAM_END) {
        f->done = true;
        break;
      }
      if (r != LZMA_OK) {
        archive_set_error(inner, EIO, "%s", why(r));
        return -1;
      }
    }
    *result = f->out.data();
    return static_cast<la_ssize_t>(f->out.size() - f->strm.avail_out);
  }
};

}  // namespace

// Calls fn for every entry of the .deb's data.tar.*, with the path made
// absolute ("./usr/bin/x" -> "/usr/bin/x").
void walk_deb(const std::string& file, const EntryFn& fn) {
  ArchivePtr ar(archive_read_new());
  archive_read_support_format_ar(ar.get());
  if (archive_read_open_filename(ar.get(), file.c_str(), 256 * 1024) != ARCHIVE_OK)
    throw RootfsError(fmt::format("{}: not a readable .deb (ar archive): {}", file, err_of(ar.get())));
  archive_entry* member = nullptr;
  for (;;) {
    int r = archive_read_next_header(ar.get(), &member);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN)
      throw RootfsError(fmt::format("{}: not a valid .deb (ar archive): {}", file, err_of(ar.get())));
    const char* n = archive_entry_pathname(member);
    std::string name = n ? n : "";
    if (name.rfind("data.tar", 0) != 0) continue;

    Feed feed{ar.get()};
    std::unique_ptr<XzFeed> xz;
    ArchivePtr tar(archive_read_new());
    archive_read_support_filter_all(tar.get());
    archive_read_support_format_tar(tar.get());
    int opened;
    if (name == "data.tar.xz") {
      xz = std::make_unique<XzFeed>(ar.get());
      opened = archive_read_open(tar.get(), xz.get(), nullptr, &XzFeed::read, nullptr);
    } else {
      opened = archive_read_open(tar.get(), &feed, nullptr, &Feed::read, nullptr);
    }
    if (opened != ARCHIVE_OK)
      throw RootfsError(fmt::format("{}: {}: {}", file, name, err_of(tar.get())));
    archive_entry* e = nullptr;
    for (;;) {
      int t = archive_read_next_header(tar.get(), &e);
      if (t == ARCHIVE_EOF) return;
      if (t < ARCHIVE_WARN) throw RootfsError(fmt::format("{}: {}: {}", file, name, err_of(tar.get())));
      const char* p = archive_entry_pathname(e);
      if (!p) throw RootfsError(fmt::format("{}: {}: entry without a name", file, name));
      fn(path::rooted(p), tar.get(), e);
    }
  }
  throw RootfsError(fmt::format("{}: no data.tar.* member (truncated, or not a .deb)", file));
}

std::string read_data(archive* tar, uint64_t size, const std::string& file, const std::string& path) {
  // A corrupt header must not turn into a giant allocation.
  if (size > (uint64_t{4} << 30))
    throw RootfsError(fmt::format("{}: corrupt data.tar: {} claims {} bytes", file, path, size));
  std::string out(size, '\0');
  size_t got = 0;
  while (got < out.size()) {
    la_ssize_t n = archive_read_data(tar, out.data() + got, out.size() - got);
    if (n < 0) throw RootfsError(fmt::format("{}: corrupt or truncated data.tar (reading {}): {}", file, path, err_of(tar)));
    if (n == 0)
      throw RootfsError(fmt::format("{}: truncated data.tar ({} has {} of {} bytes)", file, path, got, size));
    got += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace rootfs
