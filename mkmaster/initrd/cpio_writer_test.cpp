#include "mkmaster/initrd/cpio_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace initrd {
namespace {

struct ReadEntry {
  std::string path;
  unsigned type = 0;
  unsigned perm = 0;
  int64_t uid = -1, gid = -1, mtime = -1, ino = -1;
  std::string data;
  std::string link;
  unsigned rmajor = 0, rminor = 0;
};

// Reads an archive back with libarchive (any filter), in archive order.
std::vector<ReadEntry> read_back(const std::string& bytes, std::string* format = nullptr) {
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_cpio(a);
  EXPECT_EQ(archive_read_open_memory(a, bytes.data(), bytes.size()), ARCHIVE_OK) << archive_error_string(a);
  std::vector<ReadEntry> out;
  archive_entry* e = nullptr;
  int rc;
  while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    ReadEntry r;
    r.path = archive_entry_pathname(e);
    r.type = archive_entry_filetype(e);
    r.perm = archive_entry_perm(e);
    r.uid = archive_entry_uid(e);
    r.gid = archive_entry_gid(e);
    r.mtime = archive_entry_mtime(e);
    r.ino = archive_entry_ino64(e);
    if (archive_entry_symlink(e)) r.link = archive_entry_symlink(e);
    r.rmajor = archive_entry_rdevmajor(e);
    r.rminor = archive_entry_rdevminor(e);
    char buf[4096];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) r.data.append(buf, static_cast<size_t>(n));
    EXPECT_GE(n, 0);
    out.push_back(r);
  }
  EXPECT_EQ(rc, ARCHIVE_EOF) << archive_error_string(a);
  if (format) *format = archive_format_name(a);
  archive_read_free(a);
  return out;
}

CpioImage sample() {
  CpioImage img;
  img.add_file("/usr/bin/zz", 0755, "#!/bin/sh\necho zz\n");
  img.add_file("/init", 0755, "#!/bin/sh\n");
  img.add_symlink("/bin/sh", "busybox");
  img.add_file("/bin/busybox", 04755, std::string(100000, 'b'));
  img.add_dir("/proc", 0555);
  img.add_char_device("/dev/console", 0600, 5, 1);
  return img;
}

TEST(CpioWriter, ReadsBackSortedWithParentsOwnersAndMtime) {
  auto entries = read_back(write_cpio(sample(), Compression::None, 1700000000));
  std::vector<std::string> paths;
  for (const auto& e : entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"bin", "bin/busybox", "bin/sh", "dev", "dev/console", "init",
                                              "proc", "usr", "usr/bin", "usr/bin/zz"}));
  std::map<int64_t, int> inos;
  for (const auto& e : entries) {
    EXPECT_EQ(e.uid, 0) << e.path;
    EXPECT_EQ(e.gid, 0) << e.path;
    EXPECT_EQ(e.mtime, 1700000000) << e.path;
    EXPECT_EQ(++inos[e.ino], 1) << "duplicate inode for " << e.path;
  }
  EXPECT_EQ(entries[0].type, static_cast<unsigned>(AE_IFDIR));
  EXPECT_EQ(entries[1].type, static_cast<unsigned>(AE_IFREG));
  EXPECT_EQ(entries[1].perm, 04755u);
  EXPECT_EQ(entries[1].data, std::string(100000, 'b'));
  EXPECT_EQ(entries[2].type, static_cast<unsigned>(AE_IFLNK));
  EXPECT_EQ(entries[2].link, "busybox");
  EXPECT_EQ(entries[4].type, static_cast<unsigned>(AE_IFCHR));
  EXPECT_EQ(entries[4].rmajor, 5u);
  EXPECT_EQ(entries[4].rminor, 1u);
  EXPECT_EQ(entries[6].perm, 0555u);
  EXPECT_EQ(entries[9].data, "#!/bin/sh\necho zz\n");
}

TEST(CpioWriter, IsNewcInEveryCompression) {
  using namespace std::string_literals;
  for (auto c : {Compression::Gzip, Compression::Zstd, Compression::Xz, Compression::None}) {
    std::string bytes = write_cpio(sample(), c, 0);
    std::string format;
    auto entries = read_back(bytes, &format);
    EXPECT_EQ(entries.size(), 10u) << compression_name(c);
    EXPECT_NE(format.find("SVR4"), std::string::npos) << format;
  }
  std::string none = write_cpio(sample(), Compression::None, 0);
  EXPECT_EQ(none.substr(0, 6), "070701");
  // xz with a CRC32 check (stream flags byte 7 = 0x01): the kernel's decoder has no CRC64.
  std::string xz = write_cpio(sample(), Compression::Xz, 0);
  ASSERT_GE(xz.size(), 8u);
  EXPECT_EQ(xz.substr(0, 6), "\xfd" "7zXZ\0"s);
  EXPECT_EQ(xz[7], 0x01);
  std::string gz = write_cpio(sample(), Compression::Gzip, 0);
  ASSERT_GE(gz.size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  // The gzip member holds the plain newc archive (no second filter inside).
  std::string inner;
  {
    archive* r = archive_read_new();
    archive_read_support_filter_all(r);
    archive_read_support_format_raw(r);
    ASSERT_EQ(archive_read_open_memory(r, gz.data(), gz.size()), ARCHIVE_OK);
    archive_entry* e = nullptr;
    ASSERT_EQ(archive_read_next_header(r, &e), ARCHIVE_OK);
    EXPECT_EQ(archive_filter_count(r), 2);  // gzip + none
    char buf[6];
    ASSERT_EQ(archive_read_data(r, buf, 6), 6);
    inner.assign(buf, 6);
    archive_read_free(r);
  }
  EXPECT_EQ(inner, "070701");
  // FLG has no FNAME bit and MTIME is zero: nothing host- or time-specific.
  EXPECT_EQ(gz[3] & 0x08, 0);
  EXPECT_EQ(gz.substr(4, 4), std::string(4, '\0'));
}

TEST(CpioWriter, ByteIdenticalWhateverTheInsertionOrder) {
  CpioImage reversed;
  reversed.add_char_device("dev/console", 0600, 5, 1);
  reversed.add_dir("proc", 0555);
  reversed.add_file("bin/busybox", 04755, std::string(100000, 'b'));
  reversed.add_symlink("bin/sh", "busybox");
  reversed.add_file("init", 0755, "#!/bin/sh\n");
  reversed.add_file("usr/bin/zz", 0755, "#!/bin/sh\necho zz\n");
  for (auto c : {Compression::Gzip, Compression::Zstd, Compression::Xz, Compression::None})
    EXPECT_EQ(write_cpio(sample(), c, 42), write_cpio(reversed, c, 42)) << compression_name(c);
  EXPECT_NE(write_cpio(sample(), Compression::None, 42), write_cpio(sample(), Compression::None, 43));
}

TEST(CpioWriter, DuplicatesAndConflicts) {
  CpioImage img;
  img.add_file("/lib/libc.so.6", 0644, "libc");
  EXPECT_NO_THROW(img.add_file("lib//libc.so.6", 0644, "libc"));  // same entry twice: fine
  EXPECT_THROW(img.add_file("/lib/libc.so.6", 0644, "other"), CpioError);
  EXPECT_THROW(img.add_symlink("/lib/libc.so.6", "x"), CpioError);
  EXPECT_THROW(img.add_file("/lib/libc.so.6/x", 0644, ""), CpioError);  // parent is a file
  EXPECT_THROW(img.add_file("/../etc/passwd", 0644, ""), CpioError);
  EXPECT_THROW(img.add_file("/", 0644, ""), CpioError);
  EXPECT_THROW(img.add_symlink("/x", ""), CpioError);
  img.add_dir("/lib", 0700);  // an implicit parent takes the declared mode
  EXPECT_EQ(img.find("lib")->mode, 0700u);
  try {
    img.add_file("/lib/libc.so.6", 0644, "other");
  } catch (const CpioError& e) {
    EXPECT_NE(std::string(e.what()).find("/lib/libc.so.6"), std::string::npos) << e.what();
  }
}

TEST(CpioWriter, ParsesCompressionNames) {
  EXPECT_EQ(parse_compression("gzip"), Compression::Gzip);
  EXPECT_EQ(parse_compression("zstd"), Compression::Zstd);
  EXPECT_EQ(parse_compression("xz"), Compression::Xz);
  EXPECT_EQ(parse_compression("none"), Compression::None);
  EXPECT_THROW(parse_compression("lz4"), CpioError);
}

}  // namespace
}  // namespace initrd
