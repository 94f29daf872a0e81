#pragma once
// The agents file of `mkmaster push IMAGE --agents FILE`: one agent per
// line, `HOST:PORT SECRET-FILE`, in chain order; blank lines and `#`
// comments are skipped; a relative SECRET-FILE is relative to FILE's
// directory. Errors name FILE:LINE and the field.
#include <string>
#include <vector>

#include "mkmaster/push/relay_push.h"

namespace push {

std::vector<RelayNode> load_agents_file(const std::string& path);
// One HOST:PORT (a name, IPv4 or [IPv6]; port 1..65535): "" if valid, else why.
std::string check_agent_address(const std::string& host_port);

}  // namespace push
