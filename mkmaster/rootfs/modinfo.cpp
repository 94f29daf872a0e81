// A kernel module's own metadata: the NUL-separated key=value strings of
// its .modinfo section (what `modinfo` prints).
#include <fmt/format.h>

#include "mkmaster/rootfs/elf_file.h"
#include "mkmaster/rootfs/kmod_closure.h"
#include "mkmaster/rootfs/path_util.h"

namespace rootfs {
namespace {

std::vector<std::string> words(std::string_view s, std::string_view seps) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find_first_of(seps, i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// "/lib/modules/6.1/kernel/lib/crc-t10dif.ko.xz (sysroot ...)" -> "crc_t10dif"
std::string name_from_what(const std::string& what) { return module_name_from_path(what.substr(0, what.find(' '))); }

}  // namespace

std::string normalise_module_name(std::string s) {
  for (auto& c : s)
    if (c == '-') c = '_';
  return s;
}

std::string module_name_from_path(const std::string& file) {
  std::string base = path::basename(file);
  return normalise_module_name(base.substr(0, base.find(".ko")));
}

ModInfo parse_modinfo(std::string_view ko_bytes, const std::string& what) {
  elf::File f(ko_bytes, what);
  auto sec = f.section(".modinfo");
  if (!sec) throw RootfsError(fmt::format("{}: no .modinfo section (not a kernel module?)", what));
  std::string_view data = f.range(sec->offset, sec->size, ".modinfo");
  ModInfo mi;
  size_t i = 0;
  while (i < data.size()) {
    size_t end = data.find('\0', i);
    if (end == std::string_view::npos) end = data.size();
    std::string_view kv = data.substr(i, end - i);
    i = end + 1;
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;  // padding between strings
    std::string_view key = kv.substr(0, eq), val = kv.substr(eq + 1);
    if (key == "name") {
      mi.name = normalise_module_name(std::string(val));
    } else if (key == "depends") {
      for (auto& d : words(val, ",")) mi.depends.push_back(normalise_module_name(d));
    } else if (key == "alias") {
      mi.aliases.emplace_back(val);
    } else if (key == "softdep") {
      // "pre: a b post: c" — either part optional, in any order.
      std::vector<std::string>* into = nullptr;
      for (auto& w : words(val, " \t")) {
        if (w == "pre:")
          into = &mi.softdep_pre;
        else if (w == "post:")
          into = &mi.softdep_post;
        else if (into)
          into->push_back(w);
        // Words before any pre:/post: are ignored, as libkmod does (cifs.ko
        // ships "softdep=gcm").
      }
    }
  }
  if (mi.name.empty()) mi.name = name_from_what(what);
  return mi;
}

}  // namespace rootfs
