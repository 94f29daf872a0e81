#pragma once
// LAVA v2 device dictionaries (docs/lava.md): one jinja2 file per node for
// /etc/lava-server/dispatcher-config/devices/<node>.jinja2. It extends LAVA's
// own device type (highbank.jinja2) and points every command LAVA runs at
// mkmaster — power, console, and the flasher deploy — so the BMC password
// stays in the inventory's password file and never reaches a dictionary,
// a rendered device, a job log or an argv.
#include <string>

#include "mkmaster/lab/inventory.h"

namespace lab {

// Where things are on the LAVA worker that runs the node's jobs. Every path
// is one word of [A-Za-z0-9._/+=@,-] (LAVA splits command lines with shlex
// and writes them into YAML unquoted).
struct LavaOptions {
  std::string mkmaster = "mkmaster";          // the mkmaster binary on the worker
  std::string inventory;                      // the inventory's path on the worker
  std::string log_dir = "/var/log/mkmaster";  // mkmaster's node logs and console transcripts
  // The LAVA device type a dictionary extends (`{% extends '<type>.jinja2' %}`)
  // when the node's board profile names none (its lava_device_type).
  std::string device_type = "highbank";
};

// The dictionary of one node. Throws ConfigError naming the field when a
// value cannot be written safely.
std::string render_lava_dictionary(const Node& node, const LavaOptions& options);


}  // namespace lab
