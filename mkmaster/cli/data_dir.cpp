#include "mkmaster/cli/data_dir.h"

namespace cli {

// The source tree, for now: mkmaster runs from its build directory.
std::string data_dir(const std::string& name) { return std::string(MKMASTER_SOURCE_DIR) + "/" + name; }

}  // namespace cli
