#pragma once
// The merged device configuration of one node, as LAVA builds it:
// built-in defaults (the ipmitool templates), then the device-type file
// (e.g. the LAVA Highbank setup's highbank.conf, loaded unchanged), then the node's own
// values from the inventory (hostname, ecmeip, bmc_port, bmc_user, ...).
#include <string>
#include <utility>
#include <vector>

#include "mkmaster/lab/device_config.h"
#include "mkmaster/lab/inventory.h"

namespace lab {

// The per-node layer: what `labfiles` writes to devices/<node>.conf.
std::vector<std::pair<std::string, std::string>> node_variables(const Node& node);

// The built-in defaults layer (documented in docs/inventory.md).
std::vector<std::pair<std::string, std::string>> default_device_settings();

DeviceConfig node_device_config(const Node& node);

}  // namespace lab
