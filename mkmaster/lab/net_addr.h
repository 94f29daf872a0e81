#pragma once
// Validation of the addresses and names that end up in dnsmasq.conf, file
// names and ipmitool arguments. Every value taken from an inventory passes
// through these, so nothing malformed reaches a generated file or argv.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lab {

// "FC:2F:40:17:DA:28" or "fc-2f-40-17-da-28" -> "fc:2f:40:17:da:28";
// nullopt if it is not six hex octets.
std::optional<std::string> normalize_mac(std::string_view text);

// pxelinux's per-MAC file name: "01-" + lowercase MAC with '-'.
std::string pxelinux_mac_name(std::string_view normalized_mac);

// Dotted-quad IPv4 (no leading zeros, each part 0..255); host byte order.
std::optional<std::uint32_t> parse_ipv4(std::string_view text);
std::string format_ipv4(std::uint32_t addr);

// "192.168.2.0/24" -> network + prefix length.
struct Ipv4Net {
  std::uint32_t network = 0;
  int prefix = 0;
  bool contains(std::uint32_t addr) const;
  std::uint32_t mask() const;
};
std::optional<Ipv4Net> parse_ipv4_net(std::string_view text);

// RFC 1123 host name (labels of [a-z0-9-], not starting/ending with '-').
bool is_valid_hostname(std::string_view name);

// A BMC address: an IPv4 address or a host name.
bool is_valid_host(std::string_view host);

// A TCP/UDP port 1..65535.
std::optional<int> parse_port(std::string_view text);

}  // namespace lab
