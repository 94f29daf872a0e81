#include "mkmaster/initrd/image_builder.h"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <ctime>
#include <map>
#include <optional>
#include <set>
#include <sys/stat.h>

#include "base/read_file.h"
#include "mkmaster/initrd/busybox_applets.h"
#include "mkmaster/initrd/skel.h"
#include "mkmaster/rootfs/elf_closure.h"
#include "mkmaster/rootfs/kmod_closure.h"

namespace initrd {

MissingPolicy parse_missing_policy(const std::string& s) {
  if (s == "error") return MissingPolicy::Error;
  if (s == "warn") return MissingPolicy::Warn;
  throw BuildError(fmt::format("unknown --hook-missing policy '{}' (expected error or warn)", s));
}

std::string version_stamp(int64_t epoch, const std::string& version) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y.%m.%d-%H.%M.%S", &tm);
  return fmt::format("{} mkmaster {}", buf, version);
}

namespace {

constexpr uint16_t kEmArm = 40;

std::string basename_of(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string read_host_file(const std::string& path, uint32_t* mode) {
  auto bytes = base::read_file(path);
  if (!bytes) throw std::runtime_error(fmt::format("{}: cannot read", path));
  if (mode) {
    struct stat st{};
    *mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  }
  return std::move(*bytes);
}

class Builder {
 public:
  Builder(const rootfs::FileSource& fs, const BuildOptions& opts) : fs_(fs), opts_(opts) {}

  // The content every board shares: each manifest item resolved once
  // (ELF closures, busybox). The kernel, dtb and modules wait for the board.
  void shared(const Manifest& m) {
    out_.notes = m.notes;
    progress(fmt::format("resolving {} manifest items", m.items.size()));
    for (const auto& it : m.items) {
      switch (it.kind) {
        case Item::Kind::Kernel: keep_one(kernel_, it, "kernel"); break;
        case Item::Kind::Dtb: keep_one(dtb_, it, "dtb"); break;
        case Item::Kind::Module: modules_.push_back(it); break;
        default: guarded(it, [&] { item(it); });
      }
    }
  }

  // One board's image on top of the shared content: its kernel flavour, its
  // dtb and its modules first, then the manifest's own module lines.
  BuiltImage board(const BoardPart& part) && {
    flavour_ = part.kernel_flavour;
    flavour_where_ = part.flavour_where;
    std::vector<Item> modules;
    for (const auto& it : part.items.items) {
      if (it.kind == Item::Kind::Dtb) keep_one(dtb_, it, "dtb");
      else if (it.kind == Item::Kind::Module) modules.push_back(it);
      else throw BuildError(fmt::format("{}: a board adds only a dtb and modules, not {}", it.where.str(), kind_name(it.kind)));
    }
    modules.insert(modules.end(), modules_.begin(), modules_.end());
    if (!kernel_) throw BuildError("the manifest has no 'kernel' line (e.g. 'kernel auto')");
    if (!dtb_) throw BuildError("the manifest has no 'dtb' line (e.g. 'dtb highbank.dtb')");
    guarded(*kernel_, [&] { do_kernel(*kernel_); });
    guarded(*dtb_, [&] { do_dtb(*dtb_); });
    std::vector<const Item*> wanted;
    for (const auto& it : modules) wanted.push_back(&it);
    do_modules(wanted);
    generated();
    busybox_links();  // last: real tools take precedence over applets
    resolve_missing_hook_lines();
    for (const auto& [path, l] : listed_) out_.listing.push_back(l);
    progress(fmt::format("{}{} entries, {:.1f} MiB before compression", part.name.empty() ? "" : part.name + ": ",
                         out_.cpio.entries().size(), static_cast<double>(out_.cpio.payload_bytes()) / (1 << 20)));
    return std::move(out_);
  }

 private:
  void keep_one(std::optional<Item>& slot, const Item& it, const char* what) {
    if (slot && slot->path != it.path)
      throw BuildError(fmt::format("{}: {} {} conflicts with {} {} at {}", it.where.str(), what, it.path, what,
                                   slot->path, slot->where.str()));
    if (!slot) slot = it;
  }

  void progress(const std::string& s) const {
    if (opts_.progress) opts_.progress(s);
  }

  // Every error of an item names its manifest/hook line (a BuildError
  // already does).
  template <typename F>
  void guarded(const Item& it, F&& f) {
    try {
      f();
    } catch (const BuildError&) {
      throw;
    } catch (const std::exception& e) {
      throw BuildError(fmt::format("{}: {} {}: {}", it.where.str(), kind_name(it.kind), it.path, e.what()));
    }
  }

  void list(const std::string& path, const std::string& reason, const std::string& origin) {
    std::string key = path.empty() || path[0] != '/' ? "/" + path : path;
    listed_.emplace(key, Listed{key, reason, origin});  // first reason wins
  }

  // Directories and symlinks are left out: an unpacked sysroot gives them
  // the time of the unpacking, not the package's.
  void seen_mtime(const rootfs::FileInfo& fi) { newest_mtime_ = std::max(newest_mtime_, fi.mtime); }

  // Copies `path` (a symlink or regular file in the root) to the same place in the image.
  void copy_from_root(const std::string& path, const std::string& reason) {
    auto fi = fs_.lstat(path);
    if (!fi) throw BuildError(fmt::format("{} vanished from the root", path));
    if (fi->type == rootfs::FileType::Symlink) {
      out_.cpio.add_symlink(path, fi->link_target);
    } else if (fi->type == rootfs::FileType::Regular) {
      seen_mtime(*fi);
      out_.cpio.add_file(path, fi->mode, fs_.read(path));
    } else {
      out_.cpio.add_dir(path, fi->mode);
    }
    list(path, reason, fs_.origin(path));
  }

  // Missing in the root: optional items are skipped, hook lines follow the
  // --hook-missing policy, everything else is an error.
  bool missing(const Item& it) {
    std::string where = fmt::format("{}: {} {}", it.where.str(), kind_name(it.kind), it.path);
    if (it.optional) {
      out_.notes.push_back(where + ": not in the target root, skipped (optional)");
      return true;
    }
    if (it.from_hook) {
      // Decided at the end, when every route into the image is known: the
      // image may have the path from another line (hook-base.manifest's
      // /bin/nc -> nc.openbsd, its own /etc/fstab), and all the lines that
      // are really missing are reported at once.
      missing_hook_.push_back({&it, where});
      return true;
    }
    throw BuildError(fmt::format("{}: not found in the target root", where));
  }

  // The image path a hook line asked for.
  std::string hook_target(const Item& it) const {
    if (it.kind == Item::Kind::Module) return "";
    const std::string p = it.dest.empty() || it.dest == it.path ? it.path : hook_dest(it);
    return p.empty() || p[0] != '/' ? "/" + p : p;
  }

  void resolve_missing_hook_lines() {
    std::vector<std::string> missing;
    for (const auto& [it, where] : missing_hook_) {
      const std::string target = hook_target(*it);
      if (auto l = listed_.find(target); !target.empty() && l != listed_.end()) {
        out_.warnings.push_back(fmt::format("{}: not in the target root; the image has {} from {}", where, target,
                                            l->second.reason));
        continue;
      }
      missing.push_back(where);
    }
    if (missing.empty()) return;
    if (opts_.hook_missing == MissingPolicy::Warn) {
      for (const auto& w : missing) out_.warnings.push_back(w + ": not in the target root, skipped (--hook-missing=warn)");
      return;
    }
    std::string text;
    for (const auto& w : missing) text += "\n  " + w;
    throw BuildError(fmt::format("{} hook line{} not found in the target root (--hook-missing=warn skips such hook "
                                 "lines):{}",
                                 missing.size(), missing.size() == 1 ? "" : "s", text));
  }

  std::string item_reason(const Item& it) const {
    return fmt::format("{} {} ({})", kind_name(it.kind), it.path, it.where.str());
  }

  // The image path of a hook's `copy_exec SRC DEST`: initramfs-tools puts
  // SRC into DEST when DEST is a directory (the LAVA Highbank setup: `copy_exec … /sbin`).
  std::string hook_dest(const Item& it) const {
    const std::string& d = it.dest;
    if (d.back() == '/') return d + basename_of(it.path);
    if (const CpioEntry* e = out_.cpio.find(d); e && e->kind == CpioEntry::Kind::Dir) return d + "/" + basename_of(it.path);
    if (auto fi = fs_.lstat(d); fi && fi->type == rootfs::FileType::Directory) return d + "/" + basename_of(it.path);
    return d;
  }

  void item(const Item& it) {
    switch (it.kind) {
      case Item::Kind::Exec:
      case Item::Kind::File:
      case Item::Kind::Busybox:
        from_root(it);
        break;
      case Item::Kind::Dir:
        out_.cpio.add_dir(it.path, 0755);
        list(it.path, item_reason(it), "manifest");
        break;
      case Item::Kind::Symlink:
        out_.cpio.add_symlink(it.path, it.dest);
        list(it.path, fmt::format("symlink -> {} ({})", it.dest, it.where.str()), "manifest");
        break;
      case Item::Kind::Local: {
        uint32_t mode = 0644;
        std::string data = read_host_file(it.path, &mode);
        out_.cpio.add_file(it.dest, mode, std::move(data));
        list(it.dest, item_reason(it), it.path);
        break;
      }
      default:
        break;
    }
  }

  void from_root(const Item& it) {
    auto r = rootfs::resolve(fs_, it.path);
    if (!r) {
      missing(it);
      return;
    }
    auto fi = fs_.lstat(r->path);
    if (!fi || fi->type != rootfs::FileType::Regular)
      throw std::runtime_error(fmt::format("resolves to {}, which is not a regular file", r->path));
    const std::string reason = item_reason(it);
    std::string image_path = r->path;
    if (!it.dest.empty() && it.dest != it.path) {
      // Copied under another name: the content, not the root's symlinks.
      image_path = it.from_hook ? hook_dest(it) : it.dest;
      seen_mtime(*fi);
      out_.cpio.add_file(image_path, fi->mode, fs_.read(r->path));
      list(image_path, reason, fs_.origin(r->path));
    } else {
      for (const auto& link : r->chain) copy_from_root(link, reason);
      copy_from_root(r->path, reason);
    }
    if (it.kind != Item::Kind::File) {
      for (const auto& n : rootfs::elf_closure(fs_, {r->path}, kEmArm)) copy_from_root(n.path, n.reason);
    }
    if (it.kind == Item::Kind::Busybox) {
      busybox_path_ = image_path;
      applets_ = busybox_applets(fs_.read(r->path), r->path);
    }
  }

  // "auto" is the one kernel under /lib/modules, or with a board the one of
  // its flavour (a root may hold armmp and armmp-lpae side by side).
  void kernel_version(const Item* where) {
    if (!out_.kernel_version.empty()) return;
    std::string v = where ? where->path : "auto";
    const std::string suffix = "-" + flavour_;
    auto fits = [&](const std::string& k) {
      return flavour_.empty() || (k.size() > suffix.size() && k.compare(k.size() - suffix.size(), suffix.size(), suffix) == 0);
    };
    if (v == "auto") {
      auto all = rootfs::kernel_versions(fs_);
      std::vector<std::string> versions;
      for (const auto& k : all)
        if (fits(k)) versions.push_back(k);
      if (!flavour_.empty() && versions.empty())
        throw BuildError(fmt::format("{}: no {} kernel under /lib/modules in the root (found: {})", flavour_where_,
                                     flavour_, all.empty() ? "none" : fmt::format("{}", fmt::join(all, ", "))));
      if (versions.size() != 1)
        throw std::runtime_error(fmt::format("expected exactly one kernel under /lib/modules in the root, found {}{}",
                                     versions.size(), versions.empty() ? "" : " (" + fmt::format("{}", fmt::join(versions, ", ")) + "); name one"));
      v = versions[0];
    } else if (!fits(v)) {
      throw BuildError(fmt::format("{}: kernel {} at {} is not of flavour {}", flavour_where_, v,
                                   where ? where->where.str() : "?", flavour_));
    }
    out_.kernel_version = v;
  }

  void do_kernel(const Item& it) {
    kernel_version(&it);
    const std::string p = "/boot/vmlinuz-" + out_.kernel_version;
    auto r = rootfs::resolve(fs_, p);
    if (!r) throw std::runtime_error(fmt::format("{} not found in the target root", p));
    if (auto fi = fs_.lstat(r->path)) seen_mtime(*fi);
    out_.vmlinuz = fs_.read(r->path);
    out_.vmlinuz_from = {"vmlinuz", item_reason(it), fs_.origin(r->path)};
  }

  void do_dtb(const Item& it) {
    const std::string p =
        it.path[0] == '/' ? it.path : fmt::format("/usr/lib/linux-image-{}/{}", out_.kernel_version, it.path);
    auto r = rootfs::resolve(fs_, p);
    if (!r) throw std::runtime_error(fmt::format("{} not found in the target root", p));
    if (auto fi = fs_.lstat(r->path)) seen_mtime(*fi);
    out_.dtb = fs_.read(r->path);
    out_.dtb_from = {basename_of(it.path), item_reason(it), fs_.origin(r->path)};
  }

  // Is module `name` anywhere under /lib/modules/<kver>? (for `module?`)
  bool module_exists(const std::string& dir, const std::string& name) {
    for (const auto& e : fs_.list(dir)) {
      std::string p = dir + "/" + e;
      auto fi = fs_.lstat(p);
      if (!fi) continue;
      if (fi->type == rootfs::FileType::Directory) {
        if (module_exists(p, name)) return true;
      } else if (e.size() > 3 && e.compare(e.size() - 3, 3, ".ko") == 0) {
        std::string n = e.substr(0, e.size() - 3);
        for (auto& c : n)
          if (c == '-') c = '_';
        if (n == name) return true;
      }
    }
    return false;
  }

  void do_modules(const std::vector<const Item*>& items) {
    if (items.empty()) return;
    std::vector<std::string> wanted;
    std::set<std::string> seen;
    const std::string dir = "/lib/modules/" + out_.kernel_version;
    for (const Item* it : items) {
      std::string n = it->path;
      for (auto& c : n)
        if (c == '-') c = '_';
      if (!seen.insert(n).second) continue;
      if (it->optional || it->from_hook) {
        bool exists = false;
        guarded(*it, [&] { exists = module_exists(dir, n); });
        if (!exists) {
          missing(*it);
          continue;
        }
      }
      wanted.push_back(it->path);
    }
    std::vector<rootfs::Module> closure;
    try {
      closure = rootfs::module_closure(fs_, out_.kernel_version, wanted);
    } catch (const std::exception& e) {
      // Name the line that asked for the missing module (a board profile's
      // or a manifest's), else the first that asked for modules.
      const Item* culprit = items.front();
      for (const Item* it : items) {
        std::string n = it->path;
        for (auto& c : n)
          if (c == '-') c = '_';
        if (!module_exists(dir, n)) {
          culprit = it;
          break;
        }
      }
      throw BuildError(fmt::format("{}: modules: {}", culprit->where.str(), e.what()));
    }
    std::string list_text;
    for (const auto& mod : closure) {
      copy_from_root(mod.path, fmt::format("module {}: {}", mod.name, mod.reason));
      out_.modules.push_back(mod.path);
      list_text += mod.path + "\n";
    }
    progress(fmt::format("{} kernel modules ({} requested)", closure.size(), wanted.size()));
    out_.cpio.add_file(kModulesList, 0644, list_text);
    list(kModulesList, "module load order for /init", "generated");
  }

  void generated() {
    auto add = [&](const std::string& path, uint32_t mode, std::string data, const std::string& why) {
      out_.cpio.add_file(path, mode, std::move(data));
      list(path, why, "generated");
    };
    add("/init", 0755, std::string(skel("init")), "mkmaster /init (skel/init)");
    add(contract::kFunctionsPath, 0644, std::string(skel("functions")), "configure_networking (skel/functions)");
    add("/usr/share/udhcpc/default.script", 0755, std::string(skel("udhcpc.script")),
        "udhcpc event script (skel/udhcpc.script)");
    add(contract::kStartAgentPath, 0755, std::string(skel("start-agent")),
        "starts target-agent for a push (skel/start-agent)");
    // Everything from the root is in by now (generated() runs last), so the
    // newest root file is known.
    out_.epoch = opts_.epoch.value_or(newest_mtime_);
    out_.stamp = version_stamp(out_.epoch, opts_.version);
    add(kStampPath, 0755, fmt::format("#!/bin/sh\necho '{}'\n", out_.stamp), "version stamp: " + out_.stamp);
    for (const char* d : {"/dev", "/proc", "/sys", "/run", "/tmp", "/mnt", "/root", "/var", "/etc"}) {
      if (!out_.cpio.contains(d)) out_.cpio.add_dir(d, std::string_view(d) == "/tmp" ? 01777 : 0755);
    }
    // The kernel opens /dev/console for /init before devtmpfs is mounted.
    out_.cpio.add_char_device("/dev/console", 0600, 5, 1);
    out_.cpio.add_char_device("/dev/null", 0666, 1, 3);
    list("/dev/console", "initial console of /init", "generated");
    list("/dev/null", "for /init before devtmpfs", "generated");

    if (opts_.agent_path.empty()) throw BuildError("no target-agent given (--agent PATH)");
    uint32_t mode = 0755;
    std::string agent;
    try {
      agent = read_host_file(opts_.agent_path, &mode);
    } catch (const std::exception&) {
      throw BuildError(fmt::format("target-agent {}: cannot read (build the host preset, which builds the armhf "
                                   "agent, or pass --agent PATH)",
                                   opts_.agent_path));
    }
    if (!rootfs::is_elf(agent)) throw BuildError(fmt::format("target-agent {}: not an ELF file", opts_.agent_path));
    auto info = rootfs::parse_elf(agent, opts_.agent_path);
    if (info.machine != kEmArm || info.is_64bit)
      throw BuildError(fmt::format("target-agent {}: not a 32-bit ARM binary (machine {})", opts_.agent_path, info.machine));
    if (!info.interp.empty())
      throw BuildError(fmt::format("target-agent {}: dynamically linked (interpreter {}); it must be static",
                                   opts_.agent_path, info.interp));
    out_.cpio.add_file(contract::kAgentPath, 0755, std::move(agent));
    list(contract::kAgentPath, "target-agent (static armhf)", opts_.agent_path);
  }

  // `busybox --install -s` semantics: a symlink per applet, in /bin, unless
  // a real tool of that name is already in a bin directory of the image.
  void busybox_links() {
    if (busybox_path_.empty()) return;
    size_t made = 0;
    for (const auto& a : applets_) {
      if (a == "busybox") continue;
      bool real = false;
      for (const char* d : {"/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"}) real |= out_.cpio.contains(d + a);
      if (real) continue;
      out_.cpio.add_symlink("/bin/" + a, busybox_path_);
      list("/bin/" + a, "busybox applet", "generated");
      ++made;
    }
    progress(fmt::format("busybox: {} applets, {} linked, {} provided by real tools", applets_.size(), made,
                         applets_.size() - made));
  }

  const rootfs::FileSource& fs_;
  const BuildOptions& opts_;
  BuiltImage out_;
  int64_t newest_mtime_ = 0;  // of the regular files taken from the root
  std::map<std::string, Listed> listed_;
  struct MissingLine {
    const Item* item;
    std::string where;  // "master-extras:16: exec /bin/nc"
  };
  std::vector<MissingLine> missing_hook_;
  std::string busybox_path_;
  std::vector<std::string> applets_;
  std::optional<Item> kernel_, dtb_;
  std::vector<Item> modules_;
  std::string flavour_, flavour_where_;
};

}  // namespace

std::vector<BuiltImage> build_images(const rootfs::FileSource& root, const Manifest& manifest,
                                     const std::vector<BoardPart>& boards, const BuildOptions& opts) {
  Builder shared(root, opts);
  shared.shared(manifest);
  std::vector<BuiltImage> out;
  for (const auto& b : boards) out.push_back(Builder(shared).board(b));
  return out;
}

BuiltImage build_image(const rootfs::FileSource& root, const Manifest& manifest, const BuildOptions& opts) {
  return std::move(build_images(root, manifest, {BoardPart{}}, opts).front());
}

}  // namespace initrd
