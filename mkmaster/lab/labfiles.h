#pragma once
// The files a lab needs from its inventory: the dnsmasq.conf lines of the
// seed, one pxelinux config per node eth0 MAC, and LAVA-style device configs.
#include <string>

#include "mkmaster/lab/inventory.h"
#include "mkmaster/lab/lava_dictionary.h"

namespace lab {

std::string render_dnsmasq_conf(const Inventory& inv);
// master/pxelinux.cfg/01-<mac>: the LAVA Highbank setup's default-arm-highbank menu for
// this node's device type.
std::string render_pxelinux_config(const Node& node);
// devices/<node>.conf (the per-node layer of node_device_config()).
std::string render_device_config(const Node& node);

// Writes, under out_dir:
//   dnsmasq.conf
//   tftp/master/pxelinux.cfg/01-<mac>     (copy tftp/ into the tftp_root)
//   devices/<node>.conf
//   device-types/<type>.conf              (copied byte for byte)
//   lava/devices/<node>.jinja2            LAVA v2 device dictionaries (lava_dictionary.h);
//                                         lava.inventory empty: the inventory's absolute path
// Returns the number of files written.
int write_lab_files(const Inventory& inv, const std::string& out_dir, LavaOptions lava = {});

}  // namespace lab
