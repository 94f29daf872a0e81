#pragma once
// Whether the target sits on a spinning disk, as the kernel says in
// /sys/dev/block/MAJ:MIN/queue/rotational. An overlapped VERIFY reads back
// while the writer writes: on a rotational disk every switch between the two
// is a seek, so there the read-back waits for FINISH by default
// (docs/protocol.md, "Verify while the image streams").
#include <sys/types.h>

#include <optional>
#include <string>

namespace agent {

// The disk of `dev` (a whole disk, or a partition: then its disk's queue)
// under `sysfs`. nullopt: no such block device (tmpfs, overlay: anonymous
// devices), or the attribute is unreadable.
std::optional<bool> rotational_of(dev_t dev, const std::string& sysfs = "/sys");
// For a target: a block device's own number, a regular file's file system's.
std::optional<bool> target_is_rotational(int fd, const std::string& sysfs = "/sys");

}  // namespace agent
