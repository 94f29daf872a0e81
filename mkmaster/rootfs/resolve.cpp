// Path resolution inside a root, the way the kernel would do it if the root
// were mounted at "/": component by component, relative and absolute
// symlinks (absolute ones restart at the ROOT's "/", never the host's),
// "..", a bound on the number of links (loops), plus the usrmerge fallback.
#include <algorithm>
#include <deque>
#include <fmt/format.h>

#include "mkmaster/rootfs/file_source.h"
#include "mkmaster/rootfs/path_util.h"

namespace rootfs {
namespace {

// Same bound as the kernel's MAXSYMLINKS: more links than this is a loop.
constexpr int kMaxLinks = 40;

bool is_merged_dir(std::string_view c) {
  return c == "bin" || c == "sbin" || c == "lib" || c == "lib32" || c == "lib64" || c == "libx32";
}

// The usrmerge counterpart of a physical path: /bin/x <-> /usr/bin/x, same
// for sbin and lib*. Empty when the path is in neither tree.
std::string usrmerge_counterpart(const std::string& p) {
  auto comps = path::split(p);
  if (comps.size() >= 2 && comps[0] == "usr" && is_merged_dir(comps[1])) return p.substr(4);
  if (!comps.empty() && is_merged_dir(comps[0])) return "/usr" + p;
  return {};
}

struct Walk {
  const FileSource& fs;
  const std::string& original;
  int links = 0;

  std::optional<Resolved> run(const std::string& start, bool fallback) {
    std::deque<std::string> todo;
    for (auto& c : path::split(start)) todo.push_back(std::move(c));
    std::string cur = "/";
    Resolved r;
    while (!todo.empty()) {
      std::string comp = std::move(todo.front());
      todo.pop_front();
      if (comp == "..") {
        cur = path::parent(cur);
        continue;
      }
      std::string cand = path::join(cur, comp);
      auto info = fs.lstat(cand);
      if (!info) {
        if (!fallback) return std::nullopt;
        std::string rest = cand;
        for (auto& c : todo) rest = path::join(rest, c);
        std::string alt = usrmerge_counterpart(rest);
        if (alt.empty()) return std::nullopt;
        auto sub = run(alt, false);
        if (!sub) return std::nullopt;
        for (auto& c : sub->chain)
          if (std::find(r.chain.begin(), r.chain.end(), c) == r.chain.end()) r.chain.push_back(c);
        r.path = std::move(sub->path);
        r.usrmerge_fallback = true;
        return r;
      }
      if (info->type == FileType::Symlink) {
        if (++links > kMaxLinks)
          throw RootfsError(fmt::format("{}: too many levels of symbolic links (loop at {} -> {})",
                                        original, cand, info->link_target));
        if (info->link_target.empty())
          throw RootfsError(fmt::format("{}: empty symlink {}", original, cand));
        if (std::find(r.chain.begin(), r.chain.end(), cand) == r.chain.end()) r.chain.push_back(cand);
        auto target = path::split(info->link_target);
        todo.insert(todo.begin(), target.begin(), target.end());
        if (info->link_target.front() == '/') cur.assign(1, '/');
        continue;
      }
      if (info->type != FileType::Directory && !todo.empty()) return std::nullopt;  // file used as a dir
      cur = std::move(cand);
    }
    r.path = cur;
    return r;
  }
};

}  // namespace

std::optional<Resolved> resolve(const FileSource& fs, const std::string& p) {
  // Not path::normalize(): ".." must be applied after the symlinks before
  // it are followed, as the kernel does.
  if (p.empty() || p.front() != '/')
    throw RootfsError(fmt::format("path '{}' is not absolute inside the root", p));
  Walk w{fs, p};
  return w.run(p, true);
}

}  // namespace rootfs
