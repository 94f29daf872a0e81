#pragma once
// The master image's declared content: a small line-based format
// (docs/manifest.md). Both our manifest and initramfs-tools hooks
// (hook_parser.h) turn into the same list of items, each remembering the
// file:line it came from so build errors can point at it.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace initrd {

struct ManifestError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Where {
  std::string file;
  int line = 0;
  std::string str() const { return file + ":" + std::to_string(line); }
};

struct Item {
  enum class Kind {
    Exec,     // path [dest]: an executable or library plus its ELF closure
    File,     // path [dest]: a file copied as is
    Busybox,  // path: busybox plus a link for every applet
    Module,   // path = module name: the module and its dependency closure
    Dir,      // path: an empty directory
    Symlink,  // path -> dest
    Local,    // path (host file, absolute after parsing) -> dest in the image
    Kernel,   // path = kernel version or "auto"
    Dtb,      // path = file name under /usr/lib/linux-image-<kver>/, or absolute
  };
  Kind kind = Kind::File;
  std::string path;
  std::string dest;       // empty: same as path (Exec/File)
  bool optional = false;  // "exec?" etc.: a missing path is skipped, not an error
  bool from_hook = false; // subject to the --hook-missing policy
  Where where;
};

std::string_view kind_name(Item::Kind k);

struct Manifest {
  std::vector<Item> items;
  std::optional<std::string> sysroot;  // source sysroot DIR
  std::vector<std::string> debs;       // source debs DIR|FILE...
  std::vector<std::string> notes;      // things worth telling the user (hooks)
};

// `filename` is used in messages and to resolve relative paths of `local`
// and `source` lines (relative to the manifest's directory). ${VAR} and
// ${VAR:-default} in `source` lines expand from the environment.
// Throws ManifestError "file:line: <field>: <problem>".
Manifest parse_manifest(std::string_view text, const std::string& filename);
Manifest load_manifest(const std::string& path);

// Appends b's items and sources to a (a's sources win).
void merge(Manifest& a, Manifest b);

}  // namespace initrd
