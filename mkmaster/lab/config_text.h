#pragma once
// The one gate between configuration values and the files generated from
// them (dnsmasq.conf, pxelinux menus, device configs, LAVA dictionaries).
// A value that reaches a line-oriented file must stay inside its line and
// its field: a line break in `tftp_root` once became a `dhcp-script=` line
// of dnsmasq.conf, which dnsmasq runs as root. So every value is checked
// here on its way out (and, as file:line:field errors, when it is read:
// parse_ini, DeviceConfig::set), and each format's own metacharacters are
// refused or quoted by the function for that format. Nothing here trims or
// silently drops characters: a value is written as given, or refused.
#include <string>
#include <string_view>

namespace lab {

// The first control character (< 0x20 or 0x7f, line breaks and tabs
// included) of `value`, as a phrase ("a line break (0x0a) at offset 3"), or
// "" if there is none.
std::string control_character(std::string_view value);

// Throws ConfigError("<where>: <control_character>: values must be one line
// of printable text") if value has one; `where` is file:line:field.
void check_one_line(std::string_view value, const std::string& where);

// A field of a dnsmasq option line (dhcp-host=A,B,C; tftp-root=DIR): one
// line, and none of the characters dnsmasq gives a meaning there (',' starts
// another field, '#' a comment, '"' and '\' quote, whitespace is trimmed).
std::string dnsmasq_field(std::string_view value, const std::string& where);

// An argument of a pxelinux menu line (`append …`, `initrd PATH`): one line.
std::string pxelinux_text(std::string_view value, const std::string& where);

// The value of `key = value` in an INI device config read by Python's
// ConfigParser (and lab::parse_ini): one line, no leading or trailing
// whitespace (ConfigParser would strip it), '%' written as '%%' so that
// interpolation gives back exactly `value`.
std::string ini_value(std::string_view value, const std::string& where);

// A Jinja2 string literal for a LAVA device dictionary
// (`{% set key = '<literal>' %}`), single-quoted. Jinja does not interpret
// `{{`/`{%` inside a literal, but LAVA writes most values into its YAML
// unquoted, so what would change that YAML is refused (ConfigError
// "<where>: ..."), not escaped: empty values, control characters, quotes,
// backslashes, `#` and `: ` (YAML comment and mapping), a leading YAML
// indicator.
std::string jinja_string(std::string_view value, const std::string& where);

// A whole generated file: text lines of printable characters (UTF-8 bytes
// >= 0x80 allowed), each ended by '\n'. Throws ConfigError("<name>:<line>:
// …"); the last line of defence before a file is written.
void check_generated(std::string_view text, const std::string& name);

}  // namespace lab
