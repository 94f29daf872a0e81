#pragma once
// The files an executable needs at run time on the TARGET: its PT_INTERP
// loader and the transitive DT_NEEDED closure, searched like ld.so would on
// armhf (DT_RPATH, DT_RUNPATH with $ORIGIN, then the multiarch and default
// library directories), including the symlinks on the way.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mkmaster/rootfs/file_source.h"

namespace rootfs {

struct ElfInfo {
  uint16_t machine = 0;  // EM_ARM for armhf
  bool is_64bit = false;
  std::string interp;                // PT_INTERP, empty for static binaries
  std::vector<std::string> needed;   // DT_NEEDED in order
  std::vector<std::string> rpath;    // DT_RPATH, split on ':'
  std::vector<std::string> runpath;  // DT_RUNPATH, split on ':'
};

bool is_elf(std::string_view bytes);
// Throws RootfsError naming `what` when the ELF is malformed or truncated.
ElfInfo parse_elf(std::string_view bytes, const std::string& what);

// One file to put in the image and why it is there.
struct Needed {
  std::string path;    // absolute path in the root (and in the image)
  std::string reason;  // e.g. "needed by /bin/bash (libtinfo.so.6)"
};

// For each root executable (already resolved, regular file), every file it
// pulls in: loader, libraries and the symlinks leading to them. Each path
// appears once (first reason wins). Non-ELF roots (scripts) pull nothing.
// Throws RootfsError on an unresolvable library, naming it and who needs it,
// and on a wrong machine (e.g. an x86 binary in an armhf image).
std::vector<Needed> elf_closure(const FileSource& fs, const std::vector<std::string>& roots,
                                uint16_t expected_machine);

}  // namespace rootfs
