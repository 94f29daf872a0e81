#include "mkmaster/initrd/skel.h"

#include <stdexcept>

namespace initrd {

std::string_view skel(std::string_view name) {
  for (const auto& f : skel_files())
    if (f.name == name) return f.content;
  throw std::out_of_range("no embedded skel file " + std::string(name));
}

}  // namespace initrd
