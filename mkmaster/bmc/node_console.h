#pragma once
// ConsoleOptions for one node from its merged device config:
// connection_command, sol_deactivate_cmd, the two serial delays, the prompt.
#include <string>

#include "mkmaster/bmc/ipmi.h"
#include "mkmaster/bmc/sol_console.h"

namespace bmc {

ConsoleOptions console_options(const NodeControl& node, const std::string& transcript_path, base::LogFn log);

}  // namespace bmc
