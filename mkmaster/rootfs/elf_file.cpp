#include "mkmaster/rootfs/elf_file.h"

#include <elf.h>

#include <cstddef>
#include <fmt/format.h>

#include "base/strings.h"
#include "mkmaster/rootfs/elf_closure.h"
#include "mkmaster/rootfs/file_source.h"

namespace rootfs {
namespace elf {

// Field of a struct from <elf.h> at `base`, read in the file's byte order.
#define ELF_FIELD(base, T, m) uint((base) + offsetof(T, m), sizeof(T::m), #T "." #m)

namespace {

template <class Ehdr, class Phdr, class Shdr>
struct Layout {
  using E = Ehdr;
  using P = Phdr;
  using S = Shdr;
};
using L32 = Layout<Elf32_Ehdr, Elf32_Phdr, Elf32_Shdr>;
using L64 = Layout<Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr>;

}  // namespace

std::string_view File::range(uint64_t offset, uint64_t size, std::string_view field) const {
  if (offset > bytes_.size() || size > bytes_.size() - offset)
    throw RootfsError(fmt::format("{}: truncated or corrupt ELF: {} ({} bytes at offset {}) lies beyond the end "
                                  "of the file ({} bytes)",
                                  what_, field, size, offset, bytes_.size()));
  return bytes_.substr(offset, size);
}

uint64_t File::uint(uint64_t offset, unsigned size, std::string_view field) const {
  std::string_view b = range(offset, size, field);
  uint64_t v = 0;
  for (unsigned i = 0; i < size; ++i) {
    unsigned idx = msb_ ? i : size - 1 - i;
    v = (v << 8) | static_cast<unsigned char>(b[idx]);
  }
  return v;
}

File::File(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {
  if (bytes.size() < EI_NIDENT || bytes.substr(0, SELFMAG) != std::string_view(ELFMAG, SELFMAG))
    throw RootfsError(fmt::format("{}: not an ELF file{}", what_,
                                  bytes.size() < EI_NIDENT ? " (shorter than an ELF header)" : ""));
  switch (bytes[EI_CLASS]) {
    case ELFCLASS32: is64_ = false; break;
    case ELFCLASS64: is64_ = true; break;
    default: throw RootfsError(fmt::format("{}: bad ELF class {}", what_, int(bytes[EI_CLASS])));
  }
  switch (bytes[EI_DATA]) {
    case ELFDATA2LSB: msb_ = false; break;
    case ELFDATA2MSB: msb_ = true; break;
    default: throw RootfsError(fmt::format("{}: bad ELF byte order {}", what_, int(bytes[EI_DATA])));
  }
  auto parse = [&]<class Lay>(Lay) {
    using E = typename Lay::E;
    using P = typename Lay::P;
    using S = typename Lay::S;
    range(0, sizeof(E), "ELF header");
    type_ = static_cast<uint16_t>(ELF_FIELD(0, E, e_type));
    machine_ = static_cast<uint16_t>(ELF_FIELD(0, E, e_machine));
    const uint64_t phoff = ELF_FIELD(0, E, e_phoff), shoff = ELF_FIELD(0, E, e_shoff);
    const uint64_t phentsize = ELF_FIELD(0, E, e_phentsize), shentsize = ELF_FIELD(0, E, e_shentsize);
    uint64_t phnum = ELF_FIELD(0, E, e_phnum), shnum = ELF_FIELD(0, E, e_shnum);
    uint64_t shstrndx = ELF_FIELD(0, E, e_shstrndx);

    // Extended numbering: the real counts live in section header 0.
    if (shoff != 0) {
      if (shentsize < sizeof(S))
        throw RootfsError(fmt::format("{}: corrupt ELF: e_shentsize {} too small", what_, shentsize));
      if (shnum == 0) shnum = ELF_FIELD(shoff, S, sh_size);
      if (shstrndx == SHN_XINDEX) shstrndx = ELF_FIELD(shoff, S, sh_link);
      if (phnum == PN_XNUM) phnum = ELF_FIELD(shoff, S, sh_info);
    }
    if (phnum > 0) {
      if (phentsize < sizeof(P))
        throw RootfsError(fmt::format("{}: corrupt ELF: e_phentsize {} too small", what_, phentsize));
      if (phnum > bytes_.size() / phentsize)
        throw RootfsError(fmt::format("{}: truncated or corrupt ELF: {} program headers cannot fit in {} bytes",
                                      what_, phnum, bytes_.size()));
      range(phoff, phnum * phentsize, "program header table");
      for (uint64_t i = 0; i < phnum; ++i) {
        const uint64_t b = phoff + i * phentsize;
        segments_.push_back({static_cast<uint32_t>(ELF_FIELD(b, P, p_type)), ELF_FIELD(b, P, p_offset),
                             ELF_FIELD(b, P, p_vaddr), ELF_FIELD(b, P, p_filesz)});
      }
    }
    if (shoff != 0 && shnum > 0) {
      if (shnum > bytes_.size() / shentsize)
        throw RootfsError(fmt::format("{}: truncated or corrupt ELF: {} section headers cannot fit in {} bytes",
                                      what_, shnum, bytes_.size()));
      range(shoff, shnum * shentsize, "section header table");
      std::vector<uint64_t> name_offsets;
      for (uint64_t i = 0; i < shnum; ++i) {
        const uint64_t b = shoff + i * shentsize;
        name_offsets.push_back(ELF_FIELD(b, S, sh_name));
        sections_.push_back({{}, static_cast<uint32_t>(ELF_FIELD(b, S, sh_type)), ELF_FIELD(b, S, sh_offset),
                             ELF_FIELD(b, S, sh_size)});
      }
      if (shstrndx != SHN_UNDEF) {
        if (shstrndx >= shnum)
          throw RootfsError(fmt::format("{}: corrupt ELF: e_shstrndx {} >= {} sections", what_, shstrndx, shnum));
        const Section& strs = sections_[shstrndx];
        std::string_view tab = range(strs.offset, strs.size, "section name table");
        for (size_t i = 0; i < sections_.size(); ++i) {
          if (name_offsets[i] >= tab.size())
            throw RootfsError(fmt::format("{}: corrupt ELF: section {} name offset {} outside the name table",
                                          what_, i, name_offsets[i]));
          std::string_view n = tab.substr(name_offsets[i]);
          sections_[i].name = n.substr(0, n.find('\0'));
        }
      }
    }
  };
  if (is64_)
    parse(L64{});
  else
    parse(L32{});
}

std::optional<Section> File::section(std::string_view name) const {
  for (const auto& s : sections_)
    if (s.name == name) return s;
  return std::nullopt;
}

uint64_t File::vaddr_to_offset(uint64_t vaddr, std::string_view field) const {
  for (const auto& s : segments_)
    if (s.type == PT_LOAD && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) return s.offset + (vaddr - s.vaddr);
  throw RootfsError(fmt::format("{}: corrupt ELF: {} address {:#x} is in no loaded segment", what_, field, vaddr));
}

std::string machine_name(uint16_t machine) {
  switch (machine) {
    case EM_ARM: return "ARM";
    case EM_AARCH64: return "AArch64";
    case EM_X86_64: return "x86-64";
    case EM_386: return "i386";
    case EM_RISCV: return "RISC-V";
    case EM_PPC: return "PowerPC";
    case EM_PPC64: return "PowerPC64";
    case EM_MIPS: return "MIPS";
    case EM_S390: return "S/390";
    default: return fmt::format("machine {}", machine);
  }
}

}  // namespace elf

bool is_elf(std::string_view bytes) {
  return bytes.size() >= SELFMAG && bytes.substr(0, SELFMAG) == std::string_view(ELFMAG, SELFMAG);
}

namespace {

// DT_RPATH/DT_RUNPATH entries; an empty one names no directory here.
std::vector<std::string> split_colon(std::string_view s) {
  std::vector<std::string> out;
  for (auto& p : base::split(s, ':'))
    if (!p.empty()) out.push_back(std::move(p));
  return out;
}

}  // namespace

ElfInfo parse_elf(std::string_view bytes, const std::string& what) {
  elf::File f(bytes, what);
  ElfInfo info;
  info.machine = f.machine();
  info.is_64bit = f.is64();
  const unsigned word = f.is64() ? 8 : 4;  // d_tag and d_val are one word each
  const elf::Segment* dyn = nullptr;
  for (const auto& s : f.segments()) {
    if (s.type == PT_INTERP) {
      std::string_view v = f.range(s.offset, s.filesz, "PT_INTERP");
      info.interp = std::string(v.substr(0, v.find('\0')));
    } else if (s.type == PT_DYNAMIC) {
      dyn = &s;
    }
  }
  if (!dyn) return info;

  uint64_t strtab = 0, strsz = 0;
  bool have_strtab = false;
  std::vector<std::pair<int64_t, uint64_t>> strings;  // (tag, string offset)
  f.range(dyn->offset, dyn->filesz, "PT_DYNAMIC");
  for (uint64_t off = dyn->offset; off + 2 * word <= dyn->offset + dyn->filesz; off += 2 * word) {
    const int64_t tag = static_cast<int64_t>(f.uint(off, word, "d_tag"));
    const uint64_t val = f.uint(off + word, word, "d_val");
    if (tag == DT_NULL) break;
    if (tag == DT_STRTAB) {
      strtab = val;
      have_strtab = true;
    } else if (tag == DT_STRSZ) {
      strsz = val;
    } else if (tag == DT_NEEDED || tag == DT_RPATH || tag == DT_RUNPATH) {
      strings.emplace_back(tag, val);
    }
  }
  if (strings.empty()) return info;
  if (!have_strtab) throw RootfsError(fmt::format("{}: corrupt ELF: dynamic section without DT_STRTAB", what));
  const uint64_t tab_off = f.vaddr_to_offset(strtab, "DT_STRTAB");
  std::string_view tab = f.range(tab_off, strsz, "DT_STRTAB/DT_STRSZ string table");
  for (const auto& [tag, val] : strings) {
    if (val >= tab.size())
      throw RootfsError(
          fmt::format("{}: corrupt ELF: dynamic string offset {} outside the string table ({} bytes)", what, val,
                      tab.size()));
    std::string_view rest = tab.substr(val);
    size_t nul = rest.find('\0');
    if (nul == std::string_view::npos)
      throw RootfsError(fmt::format("{}: corrupt ELF: unterminated dynamic string at offset {}", what, val));
    std::string_view s = rest.substr(0, nul);
    if (tag == DT_NEEDED)
      info.needed.emplace_back(s);
    else if (tag == DT_RPATH)
      for (auto& p : split_colon(s)) info.rpath.push_back(std::move(p));
    else
      for (auto& p : split_colon(s)) info.runpath.push_back(std::move(p));
  }
  return info;
}

}  // namespace rootfs
