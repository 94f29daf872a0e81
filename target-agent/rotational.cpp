#include "target-agent/rotational.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fmt/core.h>

#include <filesystem>
#include <system_error>

#include "base/read_file.h"

namespace agent {

namespace fs = std::filesystem;

std::optional<bool> rotational_of(dev_t dev, const std::string& sysfs) {
  std::error_code ec;
  // A symlink into /sys/devices/…/block/sda (or …/sda/sda1 for a partition,
  // which has no queue of its own: its disk's is one directory up).
  const fs::path node = fs::canonical(fmt::format("{}/dev/block/{}:{}", sysfs, major(dev), minor(dev)), ec);
  if (ec) return std::nullopt;
  for (const fs::path& dir : {node, node.parent_path()}) {
    const std::string v = base::read_first_line((dir / "queue" / "rotational").string());
    if (v == "1") return true;
    if (v == "0") return false;
  }
  return std::nullopt;
}

std::optional<bool> target_is_rotational(int fd, const std::string& sysfs) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  return rotational_of(S_ISBLK(st.st_mode) ? st.st_rdev : st.st_dev, sysfs);
}

}  // namespace agent
