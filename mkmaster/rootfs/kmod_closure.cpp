// Module closure computed from the modules themselves, like depmod +
// modprobe --show-depends would: depends= are hard, softdep= pre:/post:
// names may be module names or aliases (all modules matching an alias are
// taken, as modprobe loads them all; the ones the CPU cannot use fail to
// load harmlessly), built-in modules (modules.builtin) need no file.
#include <archive.h>
#include <archive_entry.h>
#include <fnmatch.h>

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
#include <memory>
#include <set>

#include "mkmaster/rootfs/kmod_closure.h"
#include "mkmaster/rootfs/path_util.h"

namespace rootfs {
namespace {

// kmod's alias normalisation: '-' -> '_' except inside [...] patterns.
std::string normalise_alias(std::string s) {
  bool in_class = false;
  for (auto& c : s) {
    if (c == '[') in_class = true;
    else if (c == ']') in_class = false;
    else if (c == '-' && !in_class) c = '_';
  }
  return s;
}

bool ends_with(std::string_view s, std::string_view suf) {
  return s.size() >= suf.size() && s.substr(s.size() - suf.size()) == suf;
}

const char* const kSuffixes[] = {".ko", ".ko.xz", ".ko.zst", ".ko.gz"};


// .ko.xz / .ko.zst / .ko.gz: libarchive's raw format with every filter.
std::string decompress(const std::string& bytes, const std::string& what) {
  struct Free {
    void operator()(archive* a) const { archive_read_free(a); }
  };
  std::unique_ptr<archive, Free> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());
  archive_entry* e = nullptr;
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK ||
      archive_read_next_header(a.get(), &e) != ARCHIVE_OK)
    throw RootfsError(fmt::format("{}: cannot decompress: {}", what, archive_error_string(a.get())));
  std::string out;
  char buf[1 << 16];
  for (;;) {
    la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
    if (n < 0) throw RootfsError(fmt::format("{}: cannot decompress: {}", what, archive_error_string(a.get())));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class ModuleTree {
 public:
  ModuleTree(const FileSource& fs, std::string dir, std::string kver)
      : fs_(fs), dir_(std::move(dir)), kver_(std::move(kver)) {
    walk(dir_);
    if (auto fi = fs_.lstat(path::join(dir_, "modules.builtin")); fi && fi->type == FileType::Regular) {
      std::string text = fs_.read(path::join(dir_, "modules.builtin"));
      size_t i = 0;
      while (i < text.size()) {
        size_t nl = text.find('\n', i);
        if (nl == std::string::npos) nl = text.size();
        if (nl > i) builtin_.insert(module_name_from_path(text.substr(i, nl - i)));
        i = nl + 1;
      }
    }
  }

  std::vector<Module> closure(const std::vector<std::string>& wanted) {
    for (const auto& w : wanted) visit(w, "requested", true);
    return std::move(out_);
  }

 private:
  void walk(const std::string& dir) {
    for (const auto& name : fs_.list(dir)) {
      const std::string p = path::join(dir, name);
      auto fi = fs_.lstat(p);
      if (!fi) continue;
      // Only real directories: build/ and source/ are symlinks to headers.
      if (fi->type == FileType::Directory) {
        walk(p);
      } else if (fi->type == FileType::Regular) {
        for (const char* suf : kSuffixes)
          if (ends_with(name, suf)) {
            files_.emplace(module_name_from_path(p), p);  // first in sorted order wins
            break;
          }
      }
    }
  }

  const ModInfo& info(const std::string& mod) {
    auto it = infos_.find(mod);
    if (it != infos_.end()) return it->second;
    const std::string& p = files_.at(mod);
    std::string bytes = fs_.read(p);
    const std::string what = fmt::format("{} ({})", p, fs_.origin(p));
    if (!ends_with(p, ".ko")) bytes = decompress(bytes, what);
    ModInfo mi = parse_modinfo(bytes, what);
    mi.name = mod;  // the file name is what modprobe and depends= use
    return infos_.emplace(mod, std::move(mi)).first->second;
  }

  // Modules whose alias= matches: needs every module's .modinfo, so built
  // only when a name is not a module file.
  std::vector<std::string> by_alias(const std::string& name) {
    if (!aliases_built_) {
      // A module that cannot be read only matters if it is needed: skip it
      // here, and name it if the alias then turns out to be unknown.
      for (const auto& [mod, p] : files_) {
        try {
          for (const auto& a : info(mod).aliases) aliases_.emplace_back(normalise_alias(a), mod);
        } catch (const RootfsError& e) {
          unreadable_.push_back(e.what());
        }
      }
      aliases_built_ = true;
    }
    const std::string n = normalise_alias(name);
    std::set<std::string> hits;
    for (const auto& [pattern, mod] : aliases_)
      if (fnmatch(pattern.c_str(), n.c_str(), 0) == 0) hits.insert(mod);
    return {hits.begin(), hits.end()};
  }

  void visit(const std::string& name, const std::string& reason, bool hard) {
    const std::string n = normalise_module_name(name);
    if (files_.count(n)) {
      visit_module(n, reason, hard);
      return;
    }
    if (builtin_.count(n)) return;  // in the kernel image: nothing to load
    auto mods = by_alias(name);
    if (mods.empty()) {
      // modprobe ignores a soft dependency that nothing provides.
      if (!hard) return;
      std::string extra;
      if (!unreadable_.empty())
        extra = fmt::format("; {} module(s) could not be read, first: {}", unreadable_.size(), unreadable_.front());
      throw RootfsError(fmt::format("unknown kernel module '{}' ({}): no {}.ko under {} and no module has that alias{}",
                                    name, reason, n, dir_, extra));
    }
    for (const auto& m : mods) visit_module(m, fmt::format("{} via alias {}", reason, name), hard);
  }

  void visit_module(const std::string& mod, const std::string& reason, bool hard) {
    auto st = state_.find(mod);
    if (st != state_.end()) {
      if (st->second == State::Done || !hard) return;
      throw RootfsError(fmt::format("kernel module dependency cycle through {} ({})", mod, reason));
    }
    state_[mod] = State::Visiting;
    const ModInfo mi = info(mod);
    for (const auto& d : mi.softdep_pre) visit(d, fmt::format("soft dependency (pre) of {}", mod), false);
    for (const auto& d : mi.depends) visit(d, fmt::format("dependency of {}", mod), true);
    out_.push_back({mod, files_.at(mod), reason});
    state_[mod] = State::Done;
    for (const auto& d : mi.softdep_post) visit(d, fmt::format("soft dependency (post) of {}", mod), false);
  }

  enum class State { Visiting, Done };
  const FileSource& fs_;
  std::string dir_, kver_;
  std::map<std::string, std::string> files_;  // name -> path
  std::set<std::string> builtin_;
  std::map<std::string, ModInfo> infos_;
  std::vector<std::pair<std::string, std::string>> aliases_;  // (pattern, module)
  bool aliases_built_ = false;
  std::vector<std::string> unreadable_;
  std::map<std::string, State> state_;
  std::vector<Module> out_;
};

}  // namespace

std::vector<std::string> kernel_versions(const FileSource& fs) {
  std::vector<std::string> out;
  auto base = resolve(fs, "/lib/modules");
  if (!base) return out;
  for (const auto& name : fs.list(base->path)) {
    auto r = resolve(fs, path::join(base->path, name));
    if (r && fs.lstat(r->path)->type == FileType::Directory) out.push_back(name);
  }
  return out;
}

std::vector<Module> module_closure(const FileSource& fs, const std::string& kernel_version,
                                   const std::vector<std::string>& wanted) {
  const auto versions = kernel_versions(fs);
  std::string kver = kernel_version;
  auto have = [&] { return versions.empty() ? std::string("none") : fmt::format("{}", fmt::join(versions, ", ")); };
  if (kver.empty()) {
    if (versions.size() != 1)
      throw RootfsError(fmt::format("cannot pick a kernel: /lib/modules has {} versions ({}); name one",
                                    versions.size(), have()));
    kver = versions.front();
  } else if (std::find(versions.begin(), versions.end(), kver) == versions.end()) {
    throw RootfsError(fmt::format("kernel version {} not found under /lib/modules (have: {})", kver, have()));
  }
  auto dir = resolve(fs, "/lib/modules/" + kver);
  ModuleTree tree(fs, dir->path, kver);
  return tree.closure(wanted);
}

}  // namespace rootfs
