#pragma once
// Is a block device (or one of its partitions) in use by the kernel in a
// way that makes writing it destructive? Three checks beside mounts.h, each
// with its own error code (docs/protocol.md): an active swap area
// (/proc/swaps), a dm/md/LVM holder (sysfs holders), a mount in any mount
// namespace (every /proc/PID/mountinfo, matched by device number, so a
// source path that cannot be stat'ed here is not skipped). The exclusive
// open (O_EXCL) the agent then holds for the session keeps new users out.
#include <sys/types.h>

#include <optional>
#include <string>

namespace agent {

struct DeviceUse {
  std::string what;   // "/dev/sda2" or "8:2": the device that is in use
  std::string where;  // "swap", "dm-0 (vg-root)", "/mnt in the mount namespace of pid 412"
};

// The device rdev and every partition of the disk it is on.
std::optional<DeviceUse> find_swap(dev_t rdev, const std::string& swaps_file = "/proc/swaps",
                                   const std::string& sys = "/sys");
std::optional<DeviceUse> find_holder(dev_t rdev, const std::string& sys = "/sys");
std::optional<DeviceUse> find_mount_any_namespace(dev_t rdev, const std::string& proc = "/proc",
                                                  const std::string& sys = "/sys");

// "MAJ:MIN" of the whole disk rdev is on (itself if it is not a partition).
std::string whole_disk_of(dev_t rdev, const std::string& sys = "/sys");

}  // namespace agent
