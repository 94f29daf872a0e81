#include "target-agent/files_root.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "base/strings.h"
#include "protocol/errors.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

FilesRoot::FilesRoot(const std::string& root, bool use_openat2) : use_openat2_(use_openat2) {
  if (root.empty() || root[0] != '/') throw std::runtime_error(fmt::format("--files-root {}: must be an absolute path", root));
  path_ = root;
  while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  dir_ = base::UniqueFd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_) throw std::runtime_error(fmt::format("--files-root {}: {}", root, std::strerror(errno)));
}

std::string FilesRoot::relative(const std::string& requested) const {
  if (requested.find('\0') != std::string::npos) throw ProtocolError(ErrorCode::kBadRequest, "path contains a NUL byte");
  std::string rel = requested;
  if (!rel.empty() && rel[0] == '/') {
    const std::string prefix = path_ == "/" ? "/" : path_ + "/";
    if (rel.compare(0, prefix.size(), prefix) != 0)
      throw ProtocolError(ErrorCode::kPathRefused,
                          fmt::format("{}: an absolute path outside the files root {} (--files-root)", requested, path_));
    rel = rel.substr(prefix.size());
  }
  std::string clean;
  for (const auto& c : base::split(rel, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..")
      throw ProtocolError(ErrorCode::kPathRefused,
                          fmt::format("{}: a '..' component is refused (paths stay beneath the files root {})",
                                      requested, path_));
    if (!clean.empty()) clean += '/';
    clean += c;
  }
  if (clean.empty())
    throw ProtocolError(ErrorCode::kBadRequest, fmt::format("{}: names the files root itself, not a file in it", requested));
  return clean;
}

namespace {

int openat2_beneath(int dir, const std::string& rel, int flags, mode_t mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how));
}

bool is_link(int dir, const std::string& name) {
  const int saved = errno;
  struct stat st;
  const bool link = ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
  errno = saved;
  return link;
}

// The fallback: one component at a time, none followed ('..' is already
// refused, so each step goes down).
int walk_beneath(int dir, const std::string& rel, int flags, mode_t mode) {
  const auto parts = base::split(rel, '/');
  base::UniqueFd cur;
  int at = dir;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    int next = ::openat(at, parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      // O_DIRECTORY | O_NOFOLLOW on a link says ENOTDIR: say ELOOP, as
      // openat2 does, so the refusal names the link (the final component
      // too, below).
      if (errno == ENOTDIR && is_link(at, parts[i])) errno = ELOOP;
      return -1;
    }
    cur = base::UniqueFd(next);
    at = next;
  }
  const int fd = ::openat(at, parts.back().c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0 && errno == ENOTDIR && (flags & O_DIRECTORY) && is_link(at, parts.back())) errno = ELOOP;
  return fd;
}

// Asks openat2 three questions whose answers are known, in a scratch
// directory of its own: a link on the way ("l/f", RESOLVE_NO_SYMLINKS) is
// ELOOP, ".." (RESOLVE_BENEATH) is EXDEV, a regular file opened O_DIRECTORY
// is ENOTDIR. A kernel without openat2 says ENOSYS; qemu-user 7.2 does too,
// and a qemu that passes the call on without translating the open flags
// (ARM's O_DIRECTORY is x86's O_DIRECT) gets the last one wrong. Any wrong
// or missing answer, or no scratch directory: the O_NOFOLLOW walk.
bool openat2_answers_right() {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp == '/' ? tmp : "/tmp") + "/target-agent-openat2-XXXXXX";
  if (!::mkdtemp(dir.data())) return false;
  bool right = false;
  {
    base::UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    base::UniqueFd f(d ? ::openat(d.get(), "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600) : -1);
    if (f && ::symlinkat(".", d.get(), "l") == 0) {
      auto answer = [&](const char* rel, int flags) {
        base::UniqueFd fd(openat2_beneath(d.get(), rel, flags, 0));
        return fd ? 0 : errno;
      };
      right = answer("l/f", O_RDONLY) == ELOOP && answer("..", O_RDONLY | O_DIRECTORY) == EXDEV &&
              answer("f", O_RDONLY | O_DIRECTORY) == ENOTDIR && answer("f", O_RDONLY) == 0;
    }
    if (d) {
      ::unlinkat(d.get(), "l", 0);
      ::unlinkat(d.get(), "f", 0);
    }
  }
  ::rmdir(dir.c_str());
  return right;
}

}  // namespace

bool openat2_is_usable() {
  static const bool usable = openat2_answers_right();  // once per process
  return usable;
}

base::UniqueFd FilesRoot::open(const std::string& requested, const std::string& rel, int flags, mode_t mode) const {
  int fd = -1;
  if (use_openat2_ && openat2_is_usable()) {
    fd = openat2_beneath(dir_.get(), rel, flags, mode);
  } else {
    fd = walk_beneath(dir_.get(), rel, flags, mode);
  }
  if (fd >= 0) return base::UniqueFd(fd);
  const int e = errno;
  if (e == ELOOP)
    throw ProtocolError(ErrorCode::kPathRefused,
                        fmt::format("{}: a symbolic link on the path is refused (files under {} never follow links)",
                                    requested, path_));
  if (e == EXDEV)
    throw ProtocolError(ErrorCode::kPathRefused, fmt::format("{}: resolves outside the files root {}", requested, path_));
  if (e == ENOENT) throw ProtocolError(ErrorCode::kNotFound, fmt::format("{}: {}", requested, std::strerror(e)));
  throw ProtocolError(ErrorCode::kIo, fmt::format("{}: {}", requested, std::strerror(e)));
}

std::pair<std::string, std::string> split_parent(const std::string& rel) {
  const size_t slash = rel.rfind('/');
  if (slash == std::string::npos) return {".", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

}  // namespace agent
