#include "mkmaster/rootfs/path_util.h"

#include <fmt/format.h>

#include "base/strings.h"
#include "mkmaster/rootfs/file_source.h"

namespace rootfs::path {

std::vector<std::string> split(std::string_view p) {
  std::vector<std::string> out;
  for (auto& c : base::split(p, '/'))
    if (!c.empty() && c != ".") out.push_back(std::move(c));
  return out;
}

std::string normalize(std::string_view p) {
  if (p.empty() || p.front() != '/')
    throw RootfsError(fmt::format("path '{}' is not absolute inside the root", p));
  std::vector<std::string> kept;
  for (auto& c : split(p)) {
    if (c == "..") {
      if (!kept.empty()) kept.pop_back();
    } else {
      kept.push_back(std::move(c));
    }
  }
  std::string out;
  for (auto& c : kept) {
    out += '/';
    out += c;
  }
  return out.empty() ? "/" : out;
}

std::string rooted(std::string_view p) {
  // Built by hand: GCC 12's -Wrestrict misfires on "/" + std::string at -O3.
  std::string s;
  s.reserve(p.size() + 1);
  s.push_back('/');
  s.append(p);
  return normalize(s);
}

std::string join(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

std::string parent(std::string_view p) {
  size_t slash = p.rfind('/');
  if (slash == std::string_view::npos || slash == 0) return "/";
  return std::string(p.substr(0, slash));
}

std::string basename(std::string_view p) {
  size_t slash = p.rfind('/');
  return std::string(slash == std::string_view::npos ? p : p.substr(slash + 1));
}

}  // namespace rootfs::path
