#pragma once
// Turns a manifest into the initrd's contents: every item resolved inside
// the target root (rootfs::FileSource), ELF and module closures, busybox
// applet links, and the files mkmaster always generates (/init,
// /scripts/functions, the udhcpc script, /sbin/lava-master-image-info,
// /sbin/target-agent, /etc/mkmaster/modules). Pure: reads, never writes.
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mkmaster/initrd/image_contract.h"
#include "mkmaster/initrd/cpio_writer.h"
#include "mkmaster/initrd/manifest.h"
#include "mkmaster/rootfs/file_source.h"

namespace initrd {

struct BuildError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a hook line naming a file the root lacks does (the LAVA Highbank setup's hook names
// libnss_*-2.15.so and libtinfo.so.5, which bookworm does not have).
enum class MissingPolicy { Error, Warn };
MissingPolicy parse_missing_policy(const std::string& s);

inline constexpr const char* kStampPath = "/sbin/lava-master-image-info";
inline constexpr const char* kModulesList = "/etc/mkmaster/modules";

struct BuildOptions {
  std::string agent_path;          // host path of the static armhf target-agent
  // SOURCE_DATE_EPOCH: the stamp and every mtime. Unset: the newest mtime
  // of the regular files taken from the root (the packages' own dates), so
  // an unconfigured build is still reproducible and not stamped 1970.
  std::optional<int64_t> epoch;
  std::string version;             // mkmaster version, for the stamp
  MissingPolicy hook_missing = MissingPolicy::Error;
  std::function<void(const std::string&)> progress;  // one line each, may be empty
};

// One line of `--list`: a path in the image and why it is there.
struct Listed {
  std::string path;
  std::string reason;
  std::string origin;  // where the bytes come from ("sysroot …", "x.deb", "generated", host path)
};

struct BuiltImage {
  CpioImage cpio;
  std::vector<Listed> listing;      // sorted by path
  std::vector<std::string> warnings;
  std::vector<std::string> notes;
  std::string kernel_version;
  std::string vmlinuz, dtb;         // bytes for the TFTP tree
  Listed vmlinuz_from, dtb_from;    // path: the file name in the board's TFTP directory
  std::vector<std::string> modules;  // load order (image paths)
  std::string stamp;                 // what lava-master-image-info prints
  int64_t epoch = 0;                 // the stamp's time, also every mtime of the cpio
};

// The version stamp: the LAVA Highbank setup's date format (%Y.%m.%d-%H.%M.%S, UTC) from
// the build's epoch (BuildOptions::epoch), then "mkmaster <version>".
std::string version_stamp(int64_t epoch, const std::string& version);

// What one board adds to the shared content (board_part.h makes it from a
// profile): the kernel flavour that `kernel auto` picks, and its dtb and
// module items, each naming the profile line it came from.
struct BoardPart {
  std::string name;            // for progress lines; empty: no board
  std::string kernel_flavour;  // empty: any (the one kernel of the root)
  std::string flavour_where;   // "boards/midway.ini:3: kernel_flavour"
  Manifest items;              // Dtb and Module items only
};

// One image per board. The manifest's items are resolved once for all of
// them; each board then gets its kernel, dtb and modules (its own first,
// then the manifest's module lines). A dtb in both must agree.
std::vector<BuiltImage> build_images(const rootfs::FileSource& root, const Manifest& manifest,
                                     const std::vector<BoardPart>& boards, const BuildOptions& opts);

// A manifest that names its own kernel, dtb and modules: no board.
BuiltImage build_image(const rootfs::FileSource& root, const Manifest& manifest, const BuildOptions& opts);

}  // namespace initrd
