#pragma once
// Kernel modules the node needs and their dependency closure, in load order,
// from the modules' own .modinfo (depends=, softdep=, alias=) — works on the
// armmp .deb, which ships no modules.dep.
#include <string>
#include <string_view>
#include <vector>

#include "mkmaster/rootfs/file_source.h"

namespace rootfs {

struct ModInfo {
  std::string name;                      // from the file name, '-' → '_'
  std::vector<std::string> depends;      // depends=
  std::vector<std::string> softdep_pre;  // softdep= "pre: a b"
  std::vector<std::string> softdep_post; // softdep= "post: c"
  std::vector<std::string> aliases;      // alias=
};
ModInfo parse_modinfo(std::string_view ko_bytes, const std::string& what);

// Module names as the kernel compares them: '-' and '_' are the same.
std::string normalise_module_name(std::string name);
// "/lib/modules/6.1/kernel/lib/crc-t10dif.ko.xz" -> "crc_t10dif"
std::string module_name_from_path(const std::string& path);

struct Module {
  std::string name;    // normalised (underscores)
  std::string path;    // /lib/modules/<kver>/kernel/....ko
  std::string reason;  // "requested", "dependency of sd_mod", "soft dependency (pre) of crc_t10dif"
};

// Load order: every module after its depends= and softdep pre:, soft post:
// after. Soft dependency names may be aliases (crct10dif → crct10dif_generic
// via alias=). Throws RootfsError for an unknown module name, naming it.
// kernel_version: a directory under /lib/modules; empty = the only one.
std::vector<Module> module_closure(const FileSource& fs, const std::string& kernel_version,
                                   const std::vector<std::string>& wanted);

// The kernel versions under /lib/modules in the root.
std::vector<std::string> kernel_versions(const FileSource& fs);

}  // namespace rootfs
