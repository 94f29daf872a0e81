#include "mkmaster/cli/lab_inventory.h"

#include "mkmaster/paths/paths.h"

namespace cli {

lab::Inventory load_lab_inventory(const std::string& path) {
  auto inv = lab::load_inventory(path);
  // The data directory is looked up only when the inventory names no boards
  // directory of its own ([lab] boards = DIR).
  lab::attach_boards(inv, inv.boards_dir.empty() ? (paths::data_root() / "boards").string() : std::string());
  return inv;
}

}  // namespace cli
