#pragma once
// For the rootfs tests: where the real armhf data lives, scratch roots on
// disk, synthetic .debs (libarchive writer) and minimal ELF files
// with chosen PT_INTERP / DT_NEEDED / DT_RPATH / DT_RUNPATH.
#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "testing/files.h"
#include "testing/temp_dir.h"

namespace mktest {

namespace fsys = std::filesystem;

inline std::string cache_dir() {
  const char* c = std::getenv("MKMASTER_CACHE");
  return c && *c ? c : "/var/cache/mkmaster";
}
inline std::string sysroot_dir() { return cache_dir() + "/armhf/sysroot"; }
inline std::string debs_dir() { return cache_dir() + "/armhf/debs"; }

// The real data is required, not optional: a missing sysroot fails loudly.
#define REQUIRE_ARMHF_DATA()                                                                                \
  ASSERT_TRUE(std::filesystem::is_directory(mktest::sysroot_dir()) &&                                       \
              std::filesystem::is_directory(mktest::debs_dir()))                                            \
      << "armhf sysroot/debs missing under " << mktest::cache_dir()                                          \
      << " (run scripts/setup.sh or set MKMASTER_CACHE)"

// The first .deb in debs_dir() whose name starts with `prefix` ("" if none).
inline std::string find_deb(const std::string& prefix) {
  std::vector<std::string> hits;
  for (const auto& e : fsys::directory_iterator(debs_dir()))
    if (e.path().filename().string().rfind(prefix, 0) == 0 && e.path().extension() == ".deb")
      hits.push_back(e.path().string());
  std::sort(hits.begin(), hits.end());
  return hits.empty() ? "" : hits.front();
}

// A scratch root filesystem: paths given to it are absolute inside it.
class RootDir : public TempDir {
 public:
  RootDir() : TempDir("rootfs-test") {}
  std::string host(const std::string& p) const { return path() + p; }
  void add_file(const std::string& p, const std::string& data = "x") const { write_file(host(p), data); }
  void add_dir(const std::string& p) const { fsys::create_directories(host(p)); }
  void add_link(const std::string& p, const std::string& target) const {
    fsys::create_directories(fsys::path(host(p)).parent_path());
    fsys::create_symlink(target, host(p));
  }
};

// One entry of a synthetic .deb's data.tar.
struct DebEntry {
  std::string path;  // "./usr/bin/x"
  char type = 'f';   // 'f' file, 'd' dir, 'l' symlink, 'h' hard link
  std::string data;  // contents, or link target
};

// Writes a .deb: ar(debian-binary, control.tar.gz, data.tar.<filter>).
inline void make_deb(const std::string& file, const std::vector<DebEntry>& entries, bool with_data = true) {
  auto tar_of = [](const std::vector<DebEntry>& es) {
    std::string buf(1 << 20, '\0');
    size_t used = 0;
    archive* w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    archive_write_add_filter_xz(w);
    archive_write_open_memory(w, buf.data(), buf.size(), &used);
    for (const auto& e : es) {
      archive_entry* ae = archive_entry_new();
      archive_entry_set_pathname(ae, e.path.c_str());
      archive_entry_set_perm(ae, e.type == 'd' ? 0755 : 0644);
      if (e.type == 'd') {
        archive_entry_set_filetype(ae, AE_IFDIR);
      } else if (e.type == 'l') {
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_symlink(ae, e.data.c_str());
      } else if (e.type == 'h') {
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_hardlink(ae, e.data.c_str());
      } else {
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_size(ae, static_cast<la_int64_t>(e.data.size()));
      }
      archive_write_header(w, ae);
      if (e.type == 'f') archive_write_data(w, e.data.data(), e.data.size());
      archive_entry_free(ae);
    }
    archive_write_close(w);
    archive_write_free(w);
    buf.resize(used);
    return buf;
  };
  std::vector<std::pair<std::string, std::string>> members = {{"debian-binary", "2.0\n"},
                                                               {"control.tar.xz", tar_of({{"./control", 'f', "Package: t\n"}})}};
  if (with_data) members.emplace_back("data.tar.xz", tar_of(entries));
  std::string out(4 << 20, '\0');
  size_t used = 0;
  archive* w = archive_write_new();
  archive_write_set_format_ar_svr4(w);
  archive_write_open_memory(w, out.data(), out.size(), &used);
  for (const auto& [name, data] : members) {
    archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, name.c_str());
    archive_entry_set_filetype(ae, AE_IFREG);
    archive_entry_set_perm(ae, 0644);
    archive_entry_set_size(ae, static_cast<la_int64_t>(data.size()));
    archive_write_header(w, ae);
    archive_write_data(w, data.data(), data.size());
    archive_entry_free(ae);
  }
  archive_write_close(w);
  archive_write_free(w);
  out.resize(used);
  write_file(file, out);
}

// A minimal but well-formed 32-bit little-endian ELF shared object:
// PT_LOAD covering the file, PT_INTERP (optional), PT_DYNAMIC with the given
// strings. Enough for parse_elf and the ld.so search, nothing runs it.
struct ElfSpec {
  uint16_t machine = EM_ARM;
  std::string interp;
  std::vector<std::string> needed;
  std::string rpath, runpath;
};

inline std::string make_elf32(const ElfSpec& s) {
  std::string strtab(1, '\0');
  auto add_str = [&](const std::string& v) {
    size_t off = strtab.size();
    strtab += v;
    strtab += '\0';
    return static_cast<Elf32_Word>(off);
  };
  std::vector<Elf32_Dyn> dyn;
  for (const auto& n : s.needed) dyn.push_back({DT_NEEDED, {add_str(n)}});
  if (!s.rpath.empty()) dyn.push_back({DT_RPATH, {add_str(s.rpath)}});
  if (!s.runpath.empty()) dyn.push_back({DT_RUNPATH, {add_str(s.runpath)}});
  const uint32_t nph = s.interp.empty() ? 2 : 3;
  const uint32_t ph_off = sizeof(Elf32_Ehdr);
  const uint32_t interp_off = ph_off + nph * sizeof(Elf32_Phdr);
  const uint32_t str_off = interp_off + static_cast<uint32_t>(s.interp.size() + 1);
  const uint32_t dyn_off = (str_off + static_cast<uint32_t>(strtab.size()) + 3) & ~3u;
  const uint32_t vbase = 0x10000;
  dyn.push_back({DT_STRTAB, {vbase + str_off}});
  dyn.push_back({DT_STRSZ, {static_cast<Elf32_Word>(strtab.size())}});
  dyn.push_back({DT_NULL, {0}});
  const uint32_t total = dyn_off + static_cast<uint32_t>(dyn.size() * sizeof(Elf32_Dyn));

  std::string out(total, '\0');
  Elf32_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_DYN;
  eh.e_machine = s.machine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = ph_off;
  eh.e_ehsize = sizeof(Elf32_Ehdr);
  eh.e_phentsize = sizeof(Elf32_Phdr);
  eh.e_phnum = static_cast<Elf32_Half>(nph);
  eh.e_shentsize = sizeof(Elf32_Shdr);
  std::memcpy(out.data(), &eh, sizeof eh);
  std::vector<Elf32_Phdr> ph;
  ph.push_back({PT_LOAD, 0, vbase, vbase, total, total, PF_R, 0x1000});
  if (!s.interp.empty())
    ph.push_back({PT_INTERP, interp_off, vbase + interp_off, vbase + interp_off,
                  static_cast<Elf32_Word>(s.interp.size() + 1), static_cast<Elf32_Word>(s.interp.size() + 1), PF_R, 1});
  ph.push_back({PT_DYNAMIC, dyn_off, vbase + dyn_off, vbase + dyn_off,
                static_cast<Elf32_Word>(dyn.size() * sizeof(Elf32_Dyn)),
                static_cast<Elf32_Word>(dyn.size() * sizeof(Elf32_Dyn)), PF_R, 4});
  std::memcpy(out.data() + ph_off, ph.data(), ph.size() * sizeof(Elf32_Phdr));
  std::memcpy(out.data() + interp_off, s.interp.data(), s.interp.size());
  std::memcpy(out.data() + str_off, strtab.data(), strtab.size());
  std::memcpy(out.data() + dyn_off, dyn.data(), dyn.size() * sizeof(Elf32_Dyn));
  return out;
}

}  // namespace mktest
