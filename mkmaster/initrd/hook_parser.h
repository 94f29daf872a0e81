#pragma once
// initramfs-tools hook compatibility: reads (never runs) a hook such as the
// LAVA Highbank setup's master-extras and turns it into manifest items, so existing users
// migrate without rewriting it. Supported (docs/manifest.md):
//   . /usr/share/initramfs-tools/hook-functions   (ignored)
//   copy_exec SRC [DEST]        → exec   (with the ELF closure)
//   copy_file TYPE SRC [DEST]   → file
//   manual_add_modules M...     → module
//   comments, blank lines, `set -e`, `exit 0`
// and the LAVA Highbank setup's lava-master-image-info idiom (echo/chmod into
// /tmp/lava-master-image-info, then copy_exec it): mkmaster always generates
// that stamp itself, so those lines are recognised and reported as notes.
// Any other shell line is an error naming file:line — a hook we cannot
// read faithfully must not silently produce a different image.
// Paths are resolved inside the target root at build time; what is missing
// there is handled by the builder's --hook-missing policy.
#include <string>
#include <string_view>

#include "mkmaster/initrd/manifest.h"

namespace initrd {

Manifest parse_hook(std::string_view text, const std::string& filename);
Manifest load_hook(const std::string& path);

}  // namespace initrd
