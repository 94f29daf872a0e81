#pragma once
// The applet names of a busybox binary, read from its bytes without running
// it (it is an ARM binary and the build host has no binfmt_misc): busybox
// keeps them as one NUL-separated, strcmp-sorted table (applet_names[],
// which it binary-searches), so the longest sorted run of applet-like
// names in the file is that table.
#include <string>
#include <string_view>
#include <vector>

namespace initrd {

// Throws std::runtime_error naming `what` when no table is found.
std::vector<std::string> busybox_applets(std::string_view elf_bytes, const std::string& what);

}  // namespace initrd
