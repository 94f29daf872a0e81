#include "mkmaster/cli/lab_inventory.h"

#include "mkmaster/cli/data_dir.h"

namespace cli {

lab::Inventory load_lab_inventory(const std::string& path) {
  auto inv = lab::load_inventory(path);
  lab::attach_boards(inv, data_dir("boards"));
  return inv;
}

}  // namespace cli
