// FileSource over an unpacked directory tree. Every lookup is literal: an
// intermediate component that is a symlink is NOT followed by the host
// kernel (it could point anywhere on the host, e.g. an absolute /usr/lib
// link in an unpacked -dev package); resolve() follows it inside the root.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <mutex>
#include <unordered_map>

#include "mkmaster/rootfs/file_source.h"
#include "mkmaster/rootfs/path_util.h"

namespace rootfs {
namespace {

class SysrootSource final : public FileSource {
 public:
  explicit SysrootSource(std::string dir) : root_(std::move(dir)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    struct stat st {};
    if (::stat(root_.c_str(), &st) != 0)
      throw RootfsError(fmt::format("sysroot {}: {}", root_, std::strerror(errno)));
    if (!S_ISDIR(st.st_mode)) throw RootfsError(fmt::format("sysroot {}: not a directory", root_));
  }

  std::optional<FileInfo> lstat(const std::string& p) const override {
    const std::string path = path::normalize(p);
    if (path != "/" && !literal_dir(path::parent(path))) return std::nullopt;
    struct stat st {};
    if (::lstat(host(path).c_str(), &st) != 0) return std::nullopt;
    return info_of(path, st);
  }

  std::string read(const std::string& p) const override {
    const std::string path = path::normalize(p);
    if (!literal_dir(path::parent(path)))
      throw RootfsError(fmt::format("{}: no such file in sysroot {}", path, root_));
    const std::string h = host(path);
    int fd = ::open(h.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw RootfsError(fmt::format("{}: {}", h, std::strerror(errno)));
    std::string out;
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw RootfsError(fmt::format("{}: not a regular file", h));
    }
    out.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = ::read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int e = n < 0 ? errno : 0;
        ::close(fd);
        throw RootfsError(fmt::format("{}: read failed: {}", h, e ? std::strerror(e) : "file shrank"));
      }
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    return out;
  }

  std::vector<std::string> list(const std::string& p) const override {
    const std::string path = path::normalize(p);
    std::vector<std::string> names;
    if (!literal_dir(path)) return names;
    DIR* d = ::opendir(host(path).c_str());
    if (!d) return names;
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string origin(const std::string& p) const override {
    return "sysroot " + host(path::normalize(p));
  }

 private:
  std::string host(const std::string& path) const { return path == "/" ? root_ : root_ + path; }

  FileInfo info_of(const std::string& path, const struct stat& st) const {
    FileInfo fi;
    fi.mode = st.st_mode & 07777;
    fi.mtime = static_cast<int64_t>(st.st_mtim.tv_sec);
    if (S_ISDIR(st.st_mode)) {
      fi.type = FileType::Directory;
    } else if (S_ISLNK(st.st_mode)) {
      fi.type = FileType::Symlink;
      fi.link_target = read_link(path, static_cast<size_t>(st.st_size));
    } else {
      // Device nodes and fifos do not occur in a sysroot we build from;
      // treat them as (empty) regular files rather than failing.
      fi.type = FileType::Regular;
      fi.size = S_ISREG(st.st_mode) ? static_cast<uint64_t>(st.st_size) : 0;
    }
    return fi;
  }

  std::string read_link(const std::string& path, size_t hint) const {
    std::string buf(std::max<size_t>(hint, 64) + 1, '\0');
    for (;;) {
      ssize_t n = ::readlink(host(path).c_str(), buf.data(), buf.size());
      if (n < 0) throw RootfsError(fmt::format("{}: readlink: {}", host(path), std::strerror(errno)));
      if (static_cast<size_t>(n) < buf.size()) {
        buf.resize(static_cast<size_t>(n));
        return buf;
      }
      buf.resize(buf.size() * 2);
    }
  }

  // Is `path` a real directory reached without crossing any symlink?
  // Cached: the ELF and module searches ask about the same few directories
  // thousands of times.
  bool literal_dir(const std::string& path) const {
    if (path == "/") return true;
    {
      std::lock_guard lock(mu_);
      auto it = dir_cache_.find(path);
      if (it != dir_cache_.end()) return it->second;
    }
    bool ok = literal_dir(path::parent(path));
    if (ok) {
      struct stat st {};
      ok = ::lstat(host(path).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    std::lock_guard lock(mu_);
    dir_cache_[path] = ok;
    return ok;
  }

  std::string root_;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, bool> dir_cache_;
};

}  // namespace

std::unique_ptr<FileSource> open_sysroot(const std::string& dir) {
  return std::make_unique<SysrootSource>(dir);
}

}  // namespace rootfs
