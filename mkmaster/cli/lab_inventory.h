#pragma once
// The inventory as every command loads it: parsed and checked
// (lab::load_inventory), each node with its board profile from the
// inventory's `boards` directory or mkmaster's own boards/.
#include <string>

#include "mkmaster/lab/inventory.h"

namespace cli {

lab::Inventory load_lab_inventory(const std::string& path);

}  // namespace cli
