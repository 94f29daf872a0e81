#include "target-agent/mounts.h"


#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <fmt/core.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "base/read_file.h"

namespace agent {

std::string unescape_mount_field(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
        s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

namespace {


std::string real(const std::string& p) {
  char buf[PATH_MAX];
  if (::realpath(p.c_str(), buf)) return buf;
  return p;
}

// Whole-disk "MAJ:MIN" of a block device number (itself if not a partition).
std::string whole_disk(dev_t rdev, const std::string& sys) {
  std::string base = fmt::format("{}/dev/block/{}:{}", sys, major(rdev), minor(rdev));
  struct stat st;
  if (::stat((base + "/partition").c_str(), &st) == 0) return base::read_first_line(base + "/../dev");
  return fmt::format("{}:{}", major(rdev), minor(rdev));
}

// The file behind /dev/loopN, if any.
std::string loop_backing(dev_t rdev, const std::string& sys) {
  return base::read_first_line(fmt::format("{}/dev/block/{}:{}/loop/backing_file", sys, major(rdev), minor(rdev)));
}

}  // namespace

std::optional<MountUse> find_mount(const std::string& target, const std::string& mounts_file, const std::string& sys) {
  struct stat ts;
  if (::stat(target.c_str(), &ts) != 0) return std::nullopt;
  const bool target_blk = S_ISBLK(ts.st_mode);
  const std::string target_disk = target_blk ? whole_disk(ts.st_rdev, sys) : "";
  const std::string target_real = real(target);
  std::ifstream in(mounts_file);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string src, mp;
    if (!(ls >> src >> mp)) continue;
    src = unescape_mount_field(src);
    mp = unescape_mount_field(mp);
    if (src.empty() || src[0] != '/') continue;
    struct stat ss;
    if (::stat(src.c_str(), &ss) != 0) continue;
    if (target_blk && S_ISBLK(ss.st_mode)) {
      if (ss.st_rdev == ts.st_rdev || whole_disk(ss.st_rdev, sys) == target_disk) return MountUse{src, mp};
    } else if (!target_blk) {
      if (S_ISBLK(ss.st_mode) && loop_backing(ss.st_rdev, sys) == target_real) return MountUse{src, mp};
      if (S_ISREG(ss.st_mode) && real(src) == target_real) return MountUse{src, mp};
    }
  }
  return std::nullopt;
}

}  // namespace agent
