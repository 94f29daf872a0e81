#pragma once
// ConsoleOptions for one node from its merged device config:
// connection_command, sol_deactivate_cmd, the two serial delays, the prompt.
#include <string>

#include "mkmaster/node/ipmi.h"
#include "mkmaster/node/sol_console.h"

namespace mknode {

ConsoleOptions console_options(const NodeControl& node, const std::string& transcript_path, LogFn log);

}  // namespace mknode
