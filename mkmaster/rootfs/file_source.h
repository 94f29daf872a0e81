#pragma once
// A read-only view of an armhf root filesystem: an unpacked sysroot
// directory, or a set of .deb files read directly with libarchive (ar +
// data.tar.*), never unpacked to disk. Paths are absolute inside the root
// ("/bin/bash"); symlinks are resolved inside the root, never on the host.
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace rootfs {

// Every failure to read the root (missing file, truncated .deb, ...): the
// message names the file and, for .debs, the package file.
struct RootfsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class FileType { Regular, Directory, Symlink };

struct FileInfo {
  FileType type = FileType::Regular;
  uint32_t mode = 0;        // permission bits only (07777)
  uint64_t size = 0;        // regular files
  std::string link_target;  // symlinks, as stored
  // Modification time (seconds since the epoch) of a regular file as the
  // package ships it (tar header, kept by dpkg-deb -x): what the image's
  // stamp derives from when SOURCE_DATE_EPOCH is unset. 0 when unknown.
  int64_t mtime = 0;
};

class FileSource {
 public:
  virtual ~FileSource() = default;
  // Does not follow a final symlink. nullopt when the path does not exist.
  virtual std::optional<FileInfo> lstat(const std::string& path) const = 0;
  // Contents of a regular file (no symlink following); throws RootfsError.
  virtual std::string read(const std::string& path) const = 0;
  // Names (not paths) of a directory's entries, sorted; empty if none.
  virtual std::vector<std::string> list(const std::string& dir) const = 0;
  // Where a path comes from, for --list and errors:
  // "sysroot /var/cache/.../bin/bash" or "bash_5.2.15-2+b2_armhf.deb".
  virtual std::string origin(const std::string& path) const = 0;
  // Things the caller may want to show but that do not stop a build, e.g.
  // two .debs shipping the same path with different content.
  virtual std::vector<std::string> warnings() const { return {}; }
};

// An unpacked directory tree.
std::unique_ptr<FileSource> open_sysroot(const std::string& dir);
// Every *.deb in a directory (or the listed files); a later package does
// not silently replace a file of an earlier one with different content:
// the first in sorted order wins and origin() tells which.
std::unique_ptr<FileSource> open_debs(const std::vector<std::string>& deb_files_or_dirs);
// Same, with the number of decompressed bytes kept in memory while
// indexing (contents beyond it are read again, one .deb at a time, when
// asked for). The default keeps everything up to 1 GiB.
struct DebOptions {
  uint64_t resident_budget = 1024ull << 20;
};
std::unique_ptr<FileSource> open_debs(const std::vector<std::string>& deb_files_or_dirs, const DebOptions& opts);

// A path with every symlink resolved inside the root. `chain` lists the
// symlinks traversed (each must go into the image too, so the names the
// binaries use keep working). usrmerge: when /bin/x (or /sbin, /lib) does
// not exist but /usr/bin/x does (or the reverse), that is used.
struct Resolved {
  std::string path;                // final, a regular file or directory
  std::vector<std::string> chain;  // symlinks followed, in order
  // True when the path was only found through the usrmerge counterpart
  // (/bin/x found as /usr/bin/x or the reverse): the image needs a link
  // from the requested name if the binaries use it.
  bool usrmerge_fallback = false;
};
std::optional<Resolved> resolve(const FileSource& fs, const std::string& path);

}  // namespace rootfs
