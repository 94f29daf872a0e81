#pragma once
// The directory GET_FILE and PUT_FILE are confined to (--files-root). Every
// path is resolved beneath its descriptor with no symlink followed on any
// component: openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the kernel
// has it and answers a probe right (openat2_is_usable), else a walk of
// openat(O_NOFOLLOW) per component. `..` is refused before any lookup, so
// neither way can leave the root.
#include <string>

#include "base/unique_fd.h"

namespace agent {

class FilesRoot {
 public:
  // Throws std::runtime_error if root is not an existing directory.
  explicit FilesRoot(const std::string& root, bool use_openat2 = true);
  const std::string& path() const { return path_; }

  // The request's path relative to the root: a relative path as it is, an
  // absolute one only if it lies under the root. Throws
  // ProtocolError(kPathRefused / kBadRequest) saying which rule it broke.
  std::string relative(const std::string& requested) const;

  // Opens rel (from relative()) beneath the root; the final component is
  // never followed either. Throws ProtocolError: kPathRefused for a symlink
  // or an escape, kNotFound, kIo.
  base::UniqueFd open(const std::string& requested, const std::string& rel, int flags, mode_t mode = 0) const;

 private:
  std::string path_;
  base::UniqueFd dir_;
  bool use_openat2_;
};

// Whether openat2 gives the known answers on a scratch directory (a link on
// the way, "..", O_DIRECTORY on a file); probed once per process. False on
// kernels without it and under qemu-user, whose answers are wrong or ENOSYS.
bool openat2_is_usable();

// "a/b/c" → {"a/b", "c"}; "c" → {".", "c"}.
std::pair<std::string, std::string> split_parent(const std::string& rel);

}  // namespace agent
