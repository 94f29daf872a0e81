#pragma once
// Where mkmaster finds its data files: hooks/, pxelinux/, boards/. Every
// command asks here, so moving them (an installed layout) changes only
// data_dir.cpp.
#include <string>

namespace cli {

// The directory holding `name` (e.g. "boards"), with no trailing slash.
std::string data_dir(const std::string& name);

}  // namespace cli
