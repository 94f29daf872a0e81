#include "mkmaster/lab/net_addr.h"

#include <fmt/core.h>

#include <cctype>
#include <charconv>

namespace lab {

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> normalize_mac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  const char sep = text[2];
  if (sep != ':' && sep != '-') return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < 17; ++i) {
    if (i % 3 == 2) {
      if (text[i] != sep) return std::nullopt;
      out.push_back(':');
    } else {
      if (hex_value(text[i]) < 0) return std::nullopt;
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[i]))));
    }
  }
  return out;
}

std::string pxelinux_mac_name(std::string_view normalized_mac) {
  std::string out = "01-";
  for (char c : normalized_mac) out.push_back(c == ':' ? '-' : c);
  return out;
}

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  std::size_t dots = 0;
  for (char c : text) dots += c == '.';
  if (dots != 3) return std::nullopt;
  std::uint32_t addr = 0;
  std::size_t pos = 0;
  for (int i = 0; i < 4; ++i) {
    const std::size_t end = i == 3 ? text.size() : text.find('.', pos);
    const std::string_view part = text.substr(pos, end - pos);
    if (part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0')) return std::nullopt;
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (ec != std::errc{} || ptr != part.data() + part.size() || value > 255) return std::nullopt;
    addr = (addr << 8) | value;
    pos = end + 1;
  }
  return addr;
}

std::string format_ipv4(std::uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

std::uint32_t Ipv4Net::mask() const {
  if (prefix == 0) return 0;
  return prefix == 32 ? 0xffffffffu : ~((1u << (32 - prefix)) - 1);
}

bool Ipv4Net::contains(std::uint32_t addr) const { return (addr & mask()) == (network & mask()); }

std::optional<Ipv4Net> parse_ipv4_net(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ipv4(text.substr(0, slash));
  const std::string_view len = text.substr(slash + 1);
  int prefix = -1;
  auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), prefix);
  if (!addr || len.empty() || ec != std::errc{} || ptr != len.data() + len.size() || prefix < 0 || prefix > 32)
    return std::nullopt;
  Ipv4Net net{*addr, prefix};
  // A network with host bits set is almost always a typo.
  if (prefix < 32 && (*addr & ((1u << (32 - prefix)) - 1)) != 0) return std::nullopt;
  return net;
}

bool is_valid_hostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  char prev = '.';
  for (char c : name) {
    if (c == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') {
      if (label == 0 && c == '-') return false;
      if (++label > 63) return false;
    } else {
      return false;
    }
    prev = c;
  }
  return label > 0 && prev != '-';
}

bool is_valid_host(std::string_view host) { return parse_ipv4(host).has_value() || is_valid_hostname(host); }

std::optional<int> parse_port(std::string_view text) {
  int port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || port < 1 || port > 65535)
    return std::nullopt;
  return port;
}

}  // namespace lab
