#pragma once
// Where a node's messages go: its log file, the terminal, JSON events. A
// plain callback so library code never decides about output.
#include <functional>
#include <string>

namespace base {

using LogFn = std::function<void(const std::string& line)>;

}  // namespace base
