// The run-time closure of executables, searched the way glibc's ld.so does
// on the target when there is no ld.so.cache (an initrd has none): DT_RPATH
// of the object and its loaders (only when the object has no DT_RUNPATH),
// DT_RUNPATH, then the compiled-in default directories. Candidates of the
// wrong machine or class are skipped, as ld.so does.
#include <cctype>
#include <deque>
#include <fmt/format.h>
#include <map>
#include <set>

#include "mkmaster/rootfs/elf_closure.h"
#include "mkmaster/rootfs/elf_file.h"
#include "mkmaster/rootfs/path_util.h"

namespace rootfs {
namespace {

// Debian armhf glibc's built-in search path (multiarch first), as printed
// by `ld-linux-armhf.so.3 --help` under qemu. Its legacy hwcap
// subdirectories (tls, v7l, neon, vfp) hold nothing in bookworm armhf and
// are not searched here.
const std::vector<std::string> kDefaultDirs = {"/lib/arm-linux-gnueabihf", "/usr/lib/arm-linux-gnueabihf",
                                               "/lib", "/usr/lib"};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t i = 0; (i = s.find(from, i)) != std::string::npos; i += to.size()) s.replace(i, from.size(), to);
}

// $ORIGIN is the directory of the name the object was loaded by; $LIB is
// Debian's multiarch library directory. Unknown tokens ($PLATFORM) and
// relative directories (relative to the process's cwd) cannot be known at
// image build time: those entries are dropped.
std::optional<std::string> expand(std::string dir, const std::string& loaded_as) {
  const std::string origin = path::parent(loaded_as);
  replace_all(dir, "${ORIGIN}", origin);
  replace_all(dir, "$ORIGIN", origin);
  replace_all(dir, "${LIB}", "lib/arm-linux-gnueabihf");
  replace_all(dir, "$LIB", "lib/arm-linux-gnueabihf");
  if (dir.find('$') != std::string::npos || dir.empty() || dir.front() != '/') return std::nullopt;
  return path::normalize(dir);
}

struct Object {
  std::string loaded_as;  // the name ld.so would open (for $ORIGIN)
  std::string path;       // resolved
  std::string who;        // "/bin/bash" or "/lib/.../libx.so.1 (needed by /bin/bash)"
  std::vector<std::string> inherited_rpath;  // DT_RPATH of the loaders, expanded
};

class Closure {
 public:
  Closure(const FileSource& fs, uint16_t machine) : fs_(fs), machine_(machine) {}

  void add_root(const std::string& root) {
    const std::string bytes = fs_.read(root);
    if (!is_elf(bytes)) return;  // scripts: their interpreter is a root of its own
    const ElfInfo& info = parsed(root, bytes);
    if (info.machine != machine_)
      throw RootfsError(fmt::format("{} ({}): ELF for {}, but the image is for {} — wrong architecture in the root?",
                                    root, fs_.origin(root), elf::machine_name(info.machine),
                                    elf::machine_name(machine_)));
    want_64_ = info.is_64bit;
    scanned_.insert(root);
    if (!info.interp.empty()) {
      auto r = resolve(fs_, info.interp);
      if (!r) throw RootfsError(fmt::format("{}: its ELF interpreter {} is not in the root", root, info.interp));
      const std::string reason = fmt::format("ELF interpreter of {}", root);
      add(r->chain, r->path, reason);
      if (scanned_.insert(r->path).second) {
        check_compatible(r->path, fs_.read(r->path), reason);
        queue_.push_back({info.interp, r->path, fmt::format("{} ({})", r->path, reason), {}});
      }
    }
    queue_.push_back({root, root, root, {}});
    while (!queue_.empty()) {
      Object o = std::move(queue_.front());
      queue_.pop_front();
      scan(o);
    }
  }

  std::vector<Needed> take() { return std::move(out_); }

 private:
  void add(const std::vector<std::string>& chain, const std::string& path, const std::string& reason) {
    for (const auto& c : chain)
      if (seen_.insert(c).second) out_.push_back({c, reason});
    if (seen_.insert(path).second) out_.push_back({path, reason});
  }

  const ElfInfo& parsed(const std::string& path, const std::string& bytes) {
    auto it = cache_.find(path);
    if (it == cache_.end()) it = cache_.emplace(path, parse_elf(bytes, fmt::format("{} ({})", path, fs_.origin(path)))).first;
    return it->second;
  }

  void check_compatible(const std::string& path, const std::string& bytes, const std::string& reason) {
    if (!is_elf(bytes)) throw RootfsError(fmt::format("{} ({}) is not an ELF file", path, reason));
    const ElfInfo& info = parsed(path, bytes);
    if (info.machine != machine_ || info.is_64bit != want_64_)
      throw RootfsError(fmt::format("{} ({}): ELF for {}, expected {}", path, reason,
                                    elf::machine_name(info.machine), elf::machine_name(machine_)));
  }

  // A library candidate ld.so would accept: an ELF of our machine and class.
  bool acceptable(const std::string& path) {
    auto it = cache_.find(path);
    if (it == cache_.end()) {
      auto fi = fs_.lstat(path);
      if (!fi || fi->type != FileType::Regular) return false;
      const std::string bytes = fs_.read(path);
      if (!is_elf(bytes)) return false;
      it = cache_.emplace(path, parse_elf(bytes, fmt::format("{} ({})", path, fs_.origin(path)))).first;
    }
    return it->second.machine == machine_ && it->second.is_64bit == want_64_;
  }

  void scan(const Object& o) {
    const ElfInfo info = cache_.at(o.path);
    std::vector<std::string> own_rpath;
    for (const auto& d : info.rpath)
      if (auto e = expand(d, o.loaded_as)) own_rpath.push_back(*e);
    std::vector<std::string> dirs;
    if (info.runpath.empty()) {
      dirs = own_rpath;
      dirs.insert(dirs.end(), o.inherited_rpath.begin(), o.inherited_rpath.end());
    }
    for (const auto& d : info.runpath)
      if (auto e = expand(d, o.loaded_as)) dirs.push_back(*e);
    dirs.insert(dirs.end(), kDefaultDirs.begin(), kDefaultDirs.end());

    // DT_RPATH reaches the libraries this object loads, and theirs.
    std::vector<std::string> pass_down = own_rpath;
    pass_down.insert(pass_down.end(), o.inherited_rpath.begin(), o.inherited_rpath.end());

    for (const auto& name : info.needed) {
      std::vector<std::string> candidates;
      if (name.find('/') != std::string::npos)
        candidates.push_back(path::rooted(name));
      else
        for (const auto& d : dirs) candidates.push_back(path::join(d, name));
      bool found = false;
      for (const auto& cand : candidates) {
        auto r = resolve(fs_, cand);
        if (!r || !acceptable(r->path)) continue;
        add(r->chain, r->path, fmt::format("needed by {} ({})", o.path, name));
        if (scanned_.insert(r->path).second)
          queue_.push_back({cand, r->path, fmt::format("{} (needed by {})", r->path, o.who), pass_down});
        found = true;
        break;
      }
      if (!found) {
        std::string searched;
        for (const auto& d : dirs) searched += (searched.empty() ? "" : ", ") + d;
        throw RootfsError(fmt::format("library {} needed by {} not found in the root (searched {}){}", name, o.who,
                                      searched, hint_elsewhere(name)));
      }
    }
  }

  // A library in a directory of /etc/ld.so.conf.d is found on the full
  // system through ld.so.cache; the image has no cache, so say why it fails.
  std::string hint_elsewhere(const std::string& name) {
    auto conf = resolve(fs_, "/etc/ld.so.conf.d");
    if (!conf) return {};
    for (const auto& f : fs_.list(conf->path)) {
      if (f.size() < 5 || f.compare(f.size() - 5, 5, ".conf") != 0) continue;
      auto file = resolve(fs_, path::join(conf->path, f));
      if (!file || fs_.lstat(file->path)->type != FileType::Regular) continue;
      const std::string text = fs_.read(file->path);
      size_t i = 0;
      while (i < text.size()) {
        size_t nl = text.find('\n', i);
        if (nl == std::string::npos) nl = text.size();
        std::string line = text.substr(i, nl - i);
        i = nl + 1;
        line = line.substr(0, line.find('#'));
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
        if (line.empty() || line.front() != '/') continue;
        auto r = resolve(fs_, path::join(line, name));
        if (r && acceptable(r->path))
          return fmt::format("; it is at {} (a directory listed in /etc/ld.so.conf.d/{}), which ld.so only searches "
                             "through ld.so.cache, and the image has none",
                             r->path, f);
      }
    }
    return {};
  }

  const FileSource& fs_;
  uint16_t machine_;
  bool want_64_ = false;
  std::map<std::string, ElfInfo> cache_;
  std::set<std::string> seen_, scanned_;
  std::deque<Object> queue_;
  std::vector<Needed> out_;
};

}  // namespace

std::vector<Needed> elf_closure(const FileSource& fs, const std::vector<std::string>& roots,
                                uint16_t expected_machine) {
  Closure c(fs, expected_machine);
  for (const auto& r : roots) c.add_root(r);
  return c.take();
}

}  // namespace rootfs
