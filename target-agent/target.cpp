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
  }
  return info;
}

}  // namespace agent
