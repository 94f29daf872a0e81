// FileSource over .deb files, each read in place (deb_archive.h).
//
// Cost model: xz forbids seeking, so listing a data.tar means
// decompressing all of it. Opening therefore indexes every .deb in one
// pass (in parallel, largest first) and keeps the file contents it has just
// decompressed, up to a memory budget; a file whose contents were not kept
// costs one more pass over its own .deb, after which that whole .deb is
// resident.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <exception>
#include <filesystem>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "mkmaster/rootfs/deb_archive.h"
#include "mkmaster/rootfs/file_source.h"
#include "mkmaster/rootfs/path_util.h"

namespace rootfs {
namespace {

struct Entry {
  FileInfo info;
  uint32_t deb = 0;                         // index into the sorted .deb list
  std::shared_ptr<const std::string> data;  // regular files, when resident
  std::string hardlink;                     // tar hard link: same contents as this path
};

struct DebIndex {
  std::vector<std::pair<std::string, Entry>> entries;  // archive order
};

DebIndex index_deb(const std::string& file, uint32_t deb, std::atomic<uint64_t>& budget) {
  DebIndex idx;
  std::unordered_map<std::string, size_t> pos;
  walk_deb(file, [&](const std::string& path, archive* tar, archive_entry* e) {
    Entry ent;
    ent.deb = deb;
    ent.info.mode = archive_entry_perm(e) & 07777;
    ent.info.mtime = archive_entry_mtime(e);
    if (const char* hl = archive_entry_hardlink(e)) {
      ent.info.type = FileType::Regular;
      ent.hardlink = path::rooted(hl);
      auto it = pos.find(ent.hardlink);
      if (it == pos.end())
        throw RootfsError(fmt::format("{}: {}: hard link to unknown {}", file, path, ent.hardlink));
      ent.info.size = idx.entries[it->second].second.info.size;
      ent.data = idx.entries[it->second].second.data;
    } else {
      switch (archive_entry_filetype(e)) {
        case AE_IFDIR: ent.info.type = FileType::Directory; break;
        case AE_IFLNK: {
          ent.info.type = FileType::Symlink;
          const char* t = archive_entry_symlink(e);
          ent.info.link_target = t ? t : "";
          break;
        }
        case AE_IFREG: {
          ent.info.type = FileType::Regular;
          ent.info.size = static_cast<uint64_t>(archive_entry_size(e));
          uint64_t left = budget.load();
          while (left >= ent.info.size && !budget.compare_exchange_weak(left, left - ent.info.size)) {
          }
          if (left >= ent.info.size)
            ent.data = std::make_shared<const std::string>(read_data(tar, ent.info.size, file, path));
          break;
        }
        default: return;  // device nodes, fifos: nothing a master image takes from a .deb
      }
    }
    pos[path] = idx.entries.size();
    idx.entries.emplace_back(path, std::move(ent));
  });
  return idx;
}

std::vector<std::string> collect_debs(const std::vector<std::string>& args) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  for (const auto& a : args) {
    std::error_code ec;
    if (fs::is_directory(a, ec)) {
      size_t before = out.size();
      for (const auto& de : fs::directory_iterator(a, ec))
        if (de.path().extension() == ".deb" && de.is_regular_file(ec)) out.push_back(de.path().string());
      if (ec) throw RootfsError(fmt::format("{}: cannot list: {}", a, ec.message()));
      if (out.size() == before) throw RootfsError(fmt::format("{}: no .deb files in this directory", a));
    } else if (fs::is_regular_file(a, ec)) {
      out.push_back(a);
    } else {
      throw RootfsError(fmt::format("{}: no such .deb file or directory", a));
    }
  }
  if (out.empty()) throw RootfsError("no .deb files given");
  // "First in sorted order wins": sort by package file name so the result
  // does not depend on how the caller spelled the directories.
  std::sort(out.begin(), out.end(), [](const std::string& x, const std::string& y) {
    auto bx = path::basename(x), by = path::basename(y);
    return bx != by ? bx < by : x < y;
  });
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

class DebSource final : public FileSource {
 public:
  // The full bookworm set the master image needs unpacks to ~330 MB, so
  // the default budget keeps it all: each .deb is decompressed once.
  DebSource(std::vector<std::string> debs, const DebOptions& opts) : debs_(std::move(debs)) {
    const size_t n = debs_.size();
    std::vector<DebIndex> idx(n);
    std::vector<std::exception_ptr> errs(n);
    // Largest first: the kernel .deb alone is most of the work.
    std::vector<size_t> order(n);
    std::vector<uint64_t> sizes(n);
    for (size_t i = 0; i < n; ++i) {
      order[i] = i;
      struct stat st {};
      sizes[i] = ::stat(debs_[i].c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return sizes[a] > sizes[b]; });
    std::atomic<size_t> next{0};
    std::atomic<uint64_t> budget{opts.resident_budget};
    auto worker = [&] {
      for (size_t k; (k = next++) < n;) {
        size_t i = order[k];
        try {
          idx[i] = index_deb(debs_[i], static_cast<uint32_t>(i), budget);
        } catch (...) {
          errs[i] = std::current_exception();
        }
      }
    };
    size_t nthreads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
    nthreads = std::min(nthreads, n);
    std::vector<std::thread> threads;
    for (size_t t = 1; t < nthreads; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    for (auto& e : errs)
      if (e) std::rethrow_exception(e);
    for (auto& d : idx) merge(std::move(d));
  }

  std::optional<FileInfo> lstat(const std::string& p) const override {
    auto it = files_.find(path::normalize(p));
    if (it == files_.end()) return std::nullopt;
    return it->second.info;
  }

  std::string read(const std::string& p) const override {
    const std::string path = path::normalize(p);
    auto it = files_.find(path);
    if (it == files_.end()) throw RootfsError(fmt::format("{}: not in any of the {} .debs", path, debs_.size()));
    const Entry& e = it->second;
    if (e.info.type != FileType::Regular)
      throw RootfsError(fmt::format("{}: not a regular file (in {})", path, debs_[e.deb]));
    std::lock_guard lock(mu_);
    if (!e.data) load_contents(e.deb);
    if (!e.data) throw RootfsError(fmt::format("{}: {}: contents missing on second read", debs_[e.deb], path));
    return *e.data;
  }

  std::vector<std::string> list(const std::string& p) const override {
    auto it = children_.find(path::normalize(p));
    if (it == children_.end()) return {};
    return {it->second.begin(), it->second.end()};
  }

  std::string origin(const std::string& p) const override {
    auto it = files_.find(path::normalize(p));
    if (it == files_.end()) return "not in any .deb";
    return path::basename(debs_[it->second.deb]);
  }

  std::vector<std::string> warnings() const override { return warnings_; }

 private:
  void add_parents(const std::string& path, uint32_t deb) {
    std::string child = path;
    while (child != "/") {
      std::string dir = path::parent(child);
      children_[dir].insert(path::basename(child));
      if (files_.count(dir)) break;
      Entry d;
      d.deb = deb;
      d.info.type = FileType::Directory;
      d.info.mode = 0755;
      files_.emplace(dir, std::move(d));
      child = dir;
    }
  }

  static bool same(const Entry& a, const Entry& b) {
    if (a.info.type != b.info.type) return false;
    switch (a.info.type) {
      case FileType::Directory: return true;
      case FileType::Symlink: return a.info.link_target == b.info.link_target;
      case FileType::Regular:
        if (a.info.size != b.info.size) return false;
        return !a.data || !b.data || *a.data == *b.data;
    }
    return false;
  }

  void merge(DebIndex&& d) {
    for (auto& [path, ent] : d.entries) {
      auto it = files_.find(path);
      if (it != files_.end()) {
        if (!same(it->second, ent))
          warnings_.push_back(fmt::format("{}: {} differs from {}; kept the one from {}", path,
                                          path::basename(debs_[ent.deb]),
                                          path::basename(debs_[it->second.deb]),
                                          path::basename(debs_[it->second.deb])));
        continue;
      }
      if (path != "/") add_parents(path, ent.deb);
      files_.emplace(path, std::move(ent));
    }
  }

  // Second pass over one .deb for the contents the budget did not keep.
  // Called with mu_ held; fills only entries that this .deb won.
  void load_contents(uint32_t deb) const {
    const std::string& file = debs_[deb];
    walk_deb(file, [&](const std::string& path, archive* tar, archive_entry* e) {
      auto it = files_.find(path);
      if (it == files_.end() || it->second.deb != deb || it->second.data) return;
      if (it->second.info.type != FileType::Regular || archive_entry_hardlink(e)) return;
      it->second.data = std::make_shared<const std::string>(read_data(tar, it->second.info.size, file, path));
    });
    for (auto& [path, ent] : files_) {
      if (ent.deb != deb || ent.data || ent.hardlink.empty()) continue;
      auto t = files_.find(ent.hardlink);
      if (t != files_.end()) ent.data = t->second.data;
    }
  }

  std::vector<std::string> debs_;
  // mutable: contents are filled in lazily under mu_.
  mutable std::unordered_map<std::string, Entry> files_;
  std::map<std::string, std::set<std::string>> children_;
  std::vector<std::string> warnings_;
  mutable std::mutex mu_;
};

}  // namespace

std::unique_ptr<FileSource> open_debs(const std::vector<std::string>& deb_files_or_dirs) {
  return open_debs(deb_files_or_dirs, DebOptions{});
}

std::unique_ptr<FileSource> open_debs(const std::vector<std::string>& deb_files_or_dirs, const DebOptions& opts) {
  return std::make_unique<DebSource>(collect_debs(deb_files_or_dirs), opts);
}

}  // namespace rootfs
