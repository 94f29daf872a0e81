#pragma once
// The lab inventory: machines, their nodes, each node's three interfaces
// (eth0 boots and carries the data, eth1, control = the BMC), the BMC's
// address and credentials reference, and the device type. Format and rules:
// docs/inventory.md. Everything is validated while loading; errors name
// file:line:field.
#include <string>
#include <vector>

#include "mkmaster/lab/board_profile.h"
#include "mkmaster/lab/net_addr.h"

namespace lab {

struct Interface {
  std::string name;  // host name in dnsmasq.conf, e.g. calxeda02-01-00
  std::string mac;   // normalized lowercase "fc:2f:40:17:da:28"; empty if absent
  std::string ip;    // dotted quad; empty if absent
  bool present() const { return !mac.empty(); }
};

struct Node {
  std::string machine;  // "02"
  std::string number;   // "01"
  std::string name;     // "calxeda02-01": what commands take on the command line
  std::string where;    // "lab.ini:12", the [node] header, for messages
  Interface eth0, eth1, control;
  std::string bmc_host;  // defaults to control.ip
  int bmc_port = 623;
  std::string bmc_user;
  std::string password_file;  // absolute; exactly one of these two is set
  std::string password_env;
  std::string device_type;         // "highbank": names the board profile and the device config
  std::string device_type_where;   // "lab.ini:8" where device_type was set (maybe a [machine] or [lab])
  BoardProfile board;              // boards/<device_type>.ini, once attach_boards() ran
  std::string device_type_config;  // absolute path of <device_types>/<type>.conf
  std::string agent_host;          // where mkmaster reaches target-agent (default eth0.ip)
  int agent_port = 7433;
  std::string kernel_args;  // appended to the master image's kernel command line
};

struct Inventory {
  std::string path;
  std::string name_prefix = "calxeda";
  std::string tftp_root = "/var/lib/tftpboot";
  std::string network;  // "192.168.2.0/24" as written; empty = unchecked
  std::string device_types_dir;
  std::string boards_dir;  // [lab] boards = DIR; empty: mkmaster's own boards/
  std::vector<std::string> machines;
  std::vector<Node> nodes;

  // Accepts the node name (calxeda02-01), any interface name
  // (calxeda02-01-02) or the short form 02-01. Throws naming the inventory.
  const Node& node(const std::string& name) const;
};

Inventory load_inventory(const std::string& path);

// Loads each node's board profile, named by its device_type, from the
// inventory's boards_dir, else from default_dir. A device_type without a
// profile throws ConfigError naming the inventory's file:line:device_type.
void attach_boards(Inventory& inv, const std::string& default_dir);
Inventory parse_inventory(const std::string& text, const std::string& path);

// The BMC password from the node's password_file (must not be readable by
// others) or password_env. Throws naming node and source; never prints it.
std::string read_bmc_password(const Node& node);

}  // namespace lab
