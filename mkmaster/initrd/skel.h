#pragma once
// The image's own scripts (/init, /scripts/functions, the udhcpc script),
// kept as real files under mkmaster/initrd/skel/ and compiled into mkmaster
// (embed_skel.cmake), so a built binary is self-contained.
#include <string>
#include <string_view>
#include <vector>

namespace initrd {

struct SkelFile {
  std::string_view name;     // file name under skel/
  std::string_view content;
};

const std::vector<SkelFile>& skel_files();
// Throws std::out_of_range naming the file when it is not embedded.
std::string_view skel(std::string_view name);

}  // namespace initrd
