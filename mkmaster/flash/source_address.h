#pragma once
// The address this host's connections to a node come from, as the node
// sees it (no NAT in between): what the pipeline passes to the agent as
// --allow-from, so nobody else on the lab network can even start a
// handshake with it.
#include <string>

namespace flash {

// The local address the kernel's routing picks for reaching host:port
// (numeric, no brackets). A UDP connect sends nothing. Throws
// std::runtime_error naming host if it is not numeric or unreachable.
std::string source_address_toward(const std::string& host, int port);

// A numeric IPv4 or IPv6 address (what the agent's --allow-from takes).
bool is_numeric_address(const std::string& text);

}  // namespace flash
