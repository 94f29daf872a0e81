#pragma once
// Is a target in use? The agent refuses to write a device that is mounted —
// itself or any of its partitions — or a file backing a mounted loop device.
#include <optional>
#include <string>

namespace agent {

struct MountUse {
  std::string source;       // as listed in the mounts table
  std::string mount_point;  // unescaped
};

// mounts_file: /proc/self/mounts format (tests pass their own). sys_root:
// where /sys is (tests may point elsewhere).
std::optional<MountUse> find_mount(const std::string& target, const std::string& mounts_file = "/proc/self/mounts",
                                   const std::string& sys_root = "/sys");

// Undo the octal escapes (\040 etc.) of /proc/mounts fields.
std::string unescape_mount_field(const std::string& s);

}  // namespace agent
