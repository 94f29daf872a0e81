#include "target-agent/address_range.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/core.h>

#include <cstring>
#include <stdexcept>

namespace agent {

AddressRange parse_address_range(const std::string& text) {
  AddressRange r;
  r.text = text;
  std::string host = text;
  int max_bits = 32;
  const size_t slash = text.find('/');
  if (slash != std::string::npos) host = text.substr(0, slash);
  if (inet_pton(AF_INET, host.c_str(), r.addr.data()) == 1) {
    r.v6 = false;
  } else if (inet_pton(AF_INET6, host.c_str(), r.addr.data()) == 1) {
    r.v6 = true;
    max_bits = 128;
  } else {
    throw std::invalid_argument(
        fmt::format("--allow-from {}: '{}' is not a numeric IPv4 or IPv6 address", text, host));
  }
  r.prefix = max_bits;
  if (slash != std::string::npos) {
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(bits) > max_bits)
      throw std::invalid_argument(fmt::format("--allow-from {}: prefix '{}' is not 0..{}", text, bits, max_bits));
    r.prefix = std::stoi(bits);
  }
  return r;
}

namespace {
bool prefix_equal(const uint8_t* a, const uint8_t* b, int bits) {
  const int whole = bits / 8, rest = bits % 8;
  if (std::memcmp(a, b, static_cast<size_t>(whole)) != 0) return false;
  if (rest == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}
}  // namespace

bool matches(const AddressRange& r, const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    if (r.v6) return false;
    const auto* s4 = reinterpret_cast<const sockaddr_in*>(&peer);
    return prefix_equal(reinterpret_cast<const uint8_t*>(&s4->sin_addr), r.addr.data(), r.prefix);
  }
  if (peer.ss_family == AF_INET6) {
    const auto* s6 = reinterpret_cast<const sockaddr_in6*>(&peer);
    const auto* a = reinterpret_cast<const uint8_t*>(&s6->sin6_addr);
    if (r.v6) return prefix_equal(a, r.addr.data(), r.prefix);
    if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) return prefix_equal(a + 12, r.addr.data(), r.prefix);
  }
  return false;
}

bool allowed(const std::vector<AddressRange>& ranges, const sockaddr_storage& peer) {
  if (ranges.empty()) return true;
  for (const auto& r : ranges)
    if (matches(r, peer)) return true;
  return false;
}

std::string peer_text(const sockaddr_storage& peer) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (peer.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&peer)->sin_addr, buf, sizeof buf);
  else if (peer.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr, buf, sizeof buf);
  return buf;
}

}  // namespace agent
