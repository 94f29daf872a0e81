#pragma once
// --allow-from ADDR[/BITS]: which peers may connect to the agent at all.
// Numeric IPv4 or IPv6 only (no names: the node has no resolver worth
// trusting). An IPv4 range also matches the IPv4-mapped IPv6 form.
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace agent {

struct AddressRange {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};  // v4: the first 4 bytes
  int prefix = 0;                  // bits that must match
  std::string text;                // as given, for messages
};

// Throws std::invalid_argument naming the text and what is wrong.
AddressRange parse_address_range(const std::string& text);

bool matches(const AddressRange& r, const sockaddr_storage& peer);
bool allowed(const std::vector<AddressRange>& ranges, const sockaddr_storage& peer);  // empty: any

// "192.0.2.1" / "2001:db8::1" (no port), for logs.
std::string peer_text(const sockaddr_storage& peer);

}  // namespace agent
