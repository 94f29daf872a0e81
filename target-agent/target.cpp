#include "target-agent/target.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

#include "target-agent/mounts.h"
#include "target-agent/target_use.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

std::string resolve_target(const AgentConfig& cfg, const std::string& requested) {
  std::string path = requested.empty() ? cfg.target : requested;
  if (path.empty()) throw ProtocolError(ErrorCode::kBadRequest, "no target path given and the agent has no --target");
  if (path.find('\0') != std::string::npos) throw ProtocolError(ErrorCode::kBadRequest, "target path contains NUL");
  if (!cfg.target.empty() && path != cfg.target)
    throw ProtocolError(ErrorCode::kNotAllowed,
                        fmt::format("target {} refused: this agent only writes {} (--target)", path, cfg.target));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw ProtocolError(ErrorCode::kNotFound, fmt::format("target {}: {}", path, std::strerror(errno)));
  if (S_ISBLK(st.st_mode)) return path;
  if (S_ISREG(st.st_mode)) {
    if (cfg.allow_file) return path;
    throw ProtocolError(ErrorCode::kNotAllowed,
                        fmt::format("target {} is a regular file; the agent writes files only with --allow-file", path));
  }
  throw ProtocolError(ErrorCode::kNotAllowed, fmt::format("target {} is neither a block device nor a regular file", path));
}

mkproto::TargetInfo inspect_target(const AgentConfig& cfg, const std::string& path) {
  mkproto::TargetInfo info;
  info.path = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw ProtocolError(ErrorCode::kNotFound, fmt::format("target {}: {}", path, std::strerror(errno)));
  if (S_ISBLK(st.st_mode)) {
    info.kind = mkproto::TargetKind::kBlockDevice;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("open {}: {}", path, std::strerror(errno)));
    uint64_t size = 0;
    int sector = 512;
    bool ok = ::ioctl(fd, BLKGETSIZE64, &size) == 0 && ::ioctl(fd, BLKSSZGET, &sector) == 0;
    int e = errno;
    ::close(fd);
    if (!ok) throw ProtocolError(ErrorCode::kIo, fmt::format("{}: size/sector ioctl: {}", path, std::strerror(e)));
    info.size = size;
    info.sector_size = static_cast<uint32_t>(sector);
  } else {
    info.kind = mkproto::TargetKind::kRegularFile;
    info.size = static_cast<uint64_t>(st.st_size);
    info.sector_size = 512;
  }
  if (auto m = find_mount(path, cfg.mounts_file, cfg.sys_root)) {
    info.mounted = true;
    info.mount_point = m->mount_point;
    if (m->source != path) info.mount_point += fmt::format(" (via {})", m->source);
  } else if (info.kind == mkproto::TargetKind::kBlockDevice) {
    if (auto u = find_mount_any_namespace(st.st_rdev, cfg.proc_root, cfg.sys_root)) {
      info.mounted = true;
      info.mount_point = u->where;
      if (u->what != path) info.mount_point += fmt::format(" (via {})", u->what);
    }
  }
  return info;
}

void refuse_if_in_use(const AgentConfig& cfg, const mkproto::TargetInfo& info) {
  if (info.mounted)
    throw ProtocolError(ErrorCode::kMounted,
                        fmt::format("refusing to write {}: it is mounted on {}", info.path, info.mount_point));
  if (info.kind != mkproto::TargetKind::kBlockDevice) return;
  struct stat st;
  if (::stat(info.path.c_str(), &st) != 0)
    throw ProtocolError(ErrorCode::kNotFound, fmt::format("target {}: {}", info.path, std::strerror(errno)));
  if (auto u = find_swap(st.st_rdev, cfg.swaps_file, cfg.sys_root))
    throw ProtocolError(ErrorCode::kSwap, fmt::format("refusing to write {}: {} is an active swap area (swapoff it first)",
                                                      info.path, u->what));
  if (auto u = find_holder(st.st_rdev, cfg.sys_root))
    throw ProtocolError(ErrorCode::kHeld, fmt::format("refusing to write {}: {} is held by {}", info.path, u->what, u->where));
}

int open_target_for_write(const mkproto::TargetInfo& info) {
  int flags = O_RDWR | O_CLOEXEC;
  if (info.kind == mkproto::TargetKind::kBlockDevice) flags |= O_EXCL;
  int fd = ::open(info.path.c_str(), flags);
  if (fd >= 0) return fd;
  if (errno == EBUSY)
    throw ProtocolError(ErrorCode::kBusy,
                        fmt::format("open {} exclusively: {} (the kernel has it in use: mounted, swap, dm/md, or "
                                    "another exclusive opener)",
                                    info.path, std::strerror(errno)));
  throw ProtocolError(ErrorCode::kIo, fmt::format("open {} for writing: {}", info.path, std::strerror(errno)));
}

}  // namespace agent
