#include "mkmaster/lab/config_text.h"

#include <fmt/core.h>

#include "mkmaster/lab/config_error.h"

namespace lab {

namespace {
bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

std::string describe(unsigned char c) {
  if (c == '\n' || c == '\r') return fmt::format("a line break (0x{:02x})", c);
  if (c == '\t') return "a tab (0x09)";
  return fmt::format("a control character (0x{:02x})", c);
}
}  // namespace

std::string control_character(std::string_view value) {
  for (std::size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (is_control(c)) return fmt::format("{} at offset {}", describe(c), i);
  }
  return "";
}

void check_one_line(std::string_view value, const std::string& where) {
  const std::string bad = control_character(value);
  if (!bad.empty()) throw ConfigError(fmt::format("{}: {}: values must be one line of printable text", where, bad));
}

std::string dnsmasq_field(std::string_view value, const std::string& where) {
  check_one_line(value, where);
  if (value.empty()) throw ConfigError(fmt::format("{}: empty value for dnsmasq.conf", where));
  const auto bad = value.find_first_of(",#\"\\ ");
  if (bad != std::string_view::npos)
    throw ConfigError(fmt::format("{}: '{}' at offset {} has a meaning in dnsmasq.conf ({}): not allowed here", where,
                                  value[bad], bad,
                                  value[bad] == ','   ? "it starts another field"
                                  : value[bad] == '#' ? "it starts a comment"
                                  : value[bad] == ' ' ? "dnsmasq trims or splits at whitespace"
                                                      : "it quotes"));
  return std::string(value);
}

std::string pxelinux_text(std::string_view value, const std::string& where) {
  check_one_line(value, where);
  return std::string(value);
}

std::string ini_value(std::string_view value, const std::string& where) {
  check_one_line(value, where);
  if (!value.empty() && (value.front() == ' ' || value.back() == ' '))
    throw ConfigError(fmt::format("{}: leading or trailing spaces would be lost in an INI value", where));
  std::string out;
  for (char c : value) {
    if (c == '%') out += '%';
    out += c;
  }
  return out;
}

std::string jinja_string(std::string_view value, const std::string& field) {
  if (value.empty()) throw ConfigError(fmt::format("{}: empty value", field));
  for (const unsigned char c : value) {
    if (c < 0x20 || c == 0x7f)
      throw ConfigError(fmt::format("{}: control character 0x{:02x} in '{}'", field, c, value));
    // Quotes and backslashes would end or escape the jinja2 literal; `#`
    // starts a YAML comment in the rendered device.
    if (c == '\'' || c == '"' || c == '\\' || c == '#')
      throw ConfigError(fmt::format("{}: character '{}' cannot be written to a LAVA dictionary: {}", field,
                                    static_cast<char>(c), value));
  }
  if (value.find(": ") != std::string::npos || value.back() == ':')
    throw ConfigError(fmt::format("{}: ': ' would make a YAML mapping in the rendered device: {}", field, value));
  // LAVA renders most values as plain YAML scalars: these must not start one.
  if (std::string_view("-?:,[]{}&*!|>%@`").find(value.front()) != std::string_view::npos || value.front() == ' ')
    throw ConfigError(fmt::format("{}: cannot start with '{}' in a LAVA dictionary: {}", field, value.front(), value));
  return "'" + std::string(value) + "'";
}


void check_generated(std::string_view text, const std::string& name) {
  int line = 1;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      start = i + 1;
    } else if (is_control(c)) {
      throw ConfigError(fmt::format("{}:{}: {} at column {} in generated text", name, line, describe(c), i - start + 1));
    }
  }
  if (!text.empty() && text.back() != '\n')
    throw ConfigError(fmt::format("{}:{}: generated text does not end with a line break", name, line));
}

}  // namespace lab
