#include "mkmaster/initrd/busybox_applets.h"

#include <fmt/core.h>

#include <stdexcept>

namespace initrd {

namespace {

bool applet_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '[' || c == '_' || c == '-' || c == '.' ||
         (c >= 'A' && c <= 'Z');
}

// A run of strictly increasing applet-like names starting at `pos`; returns
// its end and fills `names`.
size_t sorted_run(std::string_view b, size_t pos, std::vector<std::string_view>& names) {
  names.clear();
  while (pos < b.size()) {
    size_t end = pos;
    while (end < b.size() && end - pos < 40 && applet_char(b[end])) ++end;
    if (end == pos || end >= b.size() || b[end] != '\0') break;
    std::string_view name = b.substr(pos, end - pos);
    if (!names.empty() && !(names.back() < name)) break;
    names.push_back(name);
    pos = end + 1;
  }
  return pos;
}

}  // namespace

std::vector<std::string> busybox_applets(std::string_view b, const std::string& what) {
  std::vector<std::string_view> best, run;
  size_t i = 0;
  while (i < b.size()) {
    // Only start at the beginning of a string.
    if (i > 0 && b[i - 1] != '\0') {
      ++i;
      continue;
    }
    size_t end = sorted_run(b, i, run);
    if (run.size() > best.size()) best = run;
    i = run.empty() ? i + 1 : end;
  }
  // A real busybox has dozens of applets including sh; anything else is not busybox.
  bool has_sh = false;
  for (auto n : best) has_sh |= n == "sh";
  if (best.size() < 10 || !has_sh)
    throw std::runtime_error(fmt::format("{}: no busybox applet table found (is it busybox?)", what));
  return {best.begin(), best.end()};
}

}  // namespace initrd
