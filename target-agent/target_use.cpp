#include "target-agent/target_use.h"


#include <dirent.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "base/read_file.h"
#include "target-agent/mounts.h"

namespace agent {

namespace {


std::string mm(dev_t d) { return fmt::format("{}:{}", major(d), minor(d)); }

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

// Does device "MAJ:MIN" concern the target: the same device, or on the
// same whole disk (a partition of it, or the disk of a partition target).
struct Target {
  std::string self, disk;
  const std::string& sys;
  bool concerns(const std::string& dev) const {
    if (dev == self) return true;
    unsigned ma = 0, mi = 0;
    if (std::sscanf(dev.c_str(), "%u:%u", &ma, &mi) != 2) return false;
    return whole_disk_of(makedev(ma, mi), sys) == disk;
  }
};

// "/dev/sda1" from a sysfs block directory's uevent (else its "MAJ:MIN").
std::string devname_of(const std::string& dir) {
  std::ifstream ue(dir + "/uevent");
  for (std::string l; std::getline(ue, l);)
    if (l.rfind("DEVNAME=", 0) == 0) return "/dev/" + l.substr(8);
  return base::read_first_line(dir + "/dev");
}

Target target_of(dev_t rdev, const std::string& sys) { return Target{mm(rdev), whole_disk_of(rdev, sys), sys}; }

}  // namespace

std::string whole_disk_of(dev_t rdev, const std::string& sys) {
  const std::string base = fmt::format("{}/dev/block/{}", sys, mm(rdev));
  if (exists(base + "/partition")) {
    std::string d = base::read_first_line(base + "/../dev");
    if (!d.empty()) return d;
  }
  return mm(rdev);
}

std::optional<DeviceUse> find_swap(dev_t rdev, const std::string& swaps_file, const std::string& sys) {
  const Target t = target_of(rdev, sys);
  std::ifstream in(swaps_file);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string name, type;
    if (!(ls >> name >> type)) continue;
    name = unescape_mount_field(name);
    struct stat st;
    if (::stat(name.c_str(), &st) != 0 || !S_ISBLK(st.st_mode)) continue;  // a swap file: on a mounted fs
    if (t.concerns(mm(st.st_rdev))) return DeviceUse{name, "swap"};
  }
  return std::nullopt;
}

std::optional<DeviceUse> find_holder(dev_t rdev, const std::string& sys) {
  const Target t = target_of(rdev, sys);
  // The whole disk, the target itself, and every partition of the disk.
  const std::string disk_dir = fmt::format("{}/dev/block/{}", sys, t.disk);
  std::vector<std::string> dirs = {disk_dir};
  if (t.self != t.disk) dirs.push_back(fmt::format("{}/dev/block/{}", sys, t.self));
  for (const auto& e : entries(disk_dir))
    if (exists(disk_dir + "/" + e + "/partition")) dirs.push_back(disk_dir + "/" + e);
  for (const auto& dir : dirs) {
    for (const auto& h : entries(dir + "/holders")) {
      std::string where = h;
      const std::string dm = base::read_first_line(fmt::format("{}/holders/{}/dm/name", dir, h));
      if (!dm.empty()) where += fmt::format(" (device-mapper {}: LVM, crypt or multipath)", dm);
      else if (h.rfind("md", 0) == 0) where += " (md RAID)";
      return DeviceUse{devname_of(dir), where};
    }
  }
  return std::nullopt;
}

std::optional<DeviceUse> find_mount_any_namespace(dev_t rdev, const std::string& proc, const std::string& sys) {
  const Target t = target_of(rdev, sys);
  std::set<std::string> seen;  // mount namespaces already read
  std::vector<std::string> pids = {"self"};
  for (const auto& e : entries(proc))
    if (e.find_first_not_of("0123456789") == std::string::npos) pids.push_back(e);
  for (const auto& pid : pids) {
    char ns[64] = "";
    const ssize_t n = ::readlink(fmt::format("{}/{}/ns/mnt", proc, pid).c_str(), ns, sizeof ns - 1);
    if (n > 0 && !seen.insert(std::string(ns, static_cast<size_t>(n))).second) continue;
    std::ifstream in(fmt::format("{}/{}/mountinfo", proc, pid));
    std::string line;
    while (std::getline(in, line)) {
      // id parent MAJ:MIN root mount-point options … - fstype source …
      std::istringstream ls(line);
      std::string id, parent, dev, root, mp;
      if (!(ls >> id >> parent >> dev >> root >> mp)) continue;
      if (!t.concerns(dev)) continue;
      std::string source;
      const size_t dash = line.find(" - ");
      if (dash != std::string::npos) {
        std::istringstream rest(line.substr(dash + 3));
        std::string fstype;
        rest >> fstype >> source;
      }
      const std::string in_ns = pid == "self" ? "" : fmt::format(" in the mount namespace of pid {}", pid);
      return DeviceUse{source.empty() ? dev : unescape_mount_field(source),
                       fmt::format("{}{}", unescape_mount_field(mp), in_ns)};
    }
  }
  return std::nullopt;
}

}  // namespace agent
