#pragma once
// The files a lab needs from its inventory: the dnsmasq.conf lines of the
// seed, one pxelinux config per node eth0 MAC, and LAVA-style device configs.
// Every value reaches these files through config_text.h (one line, the
// format's metacharacters refused or quoted) and every rendered file is
// checked whole (check_generated) before it is returned.
#include <string>

#include "mkmaster/lab/inventory.h"
#include "mkmaster/lab/lava_dictionary.h"

namespace lab {

std::string render_dnsmasq_conf(const Inventory& inv);
// master/pxelinux.cfg/01-<mac>: the LAVA Highbank setup's default-arm-highbank menu for
// this node's device type, naming files/<type>/<initrd_file>: the initrd the
// build wrote (initrd.gz, .zst, .xz; see initrd_in_menu).
std::string render_pxelinux_config(const Node& node, const std::string& initrd_file = "initrd.gz");
// The initrd file name ("initrd.zst") of the `initrd` line of a menu that
// `mkmaster build` wrote (master/pxelinux.cfg/default-arm-highbank); name
// is the menu's path, for errors. Throws ConfigError.
std::string initrd_in_menu(const std::string& menu, const std::string& name);
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
int write_lab_files(const Inventory& inv, const std::string& out_dir, const std::string& initrd_file = "initrd.gz",
                    LavaOptions lava = {});

}  // namespace lab
