#pragma once
// A line-oriented INI reader with Python ConfigParser's rules, because LAVA
// device configs (the LAVA Highbank setup's highbank.conf) are read by ConfigParser:
// `key = value` or `key: value`, keys case-insensitive (lowercased), values
// trimmed, `#`/`;` comment lines, no inline
// comments (a '#' inside a value is part of it), duplicate keys or sections
// are errors. Stricter than ConfigParser: indented continuation lines
// (multi-line values) and control characters anywhere are refused, so no
// value can carry a line break into a generated file (config_text.h). Keys before any [section] belong to the unnamed section "",
// which is how LAVA device-type files are written.
#include <string>
#include <vector>

namespace lab {

struct IniEntry {
  std::string key;    // lowercased
  std::string value;  // trimmed; one line of printable text
  int line = 0;
};

struct IniSection {
  std::string name;  // "" for keys before the first header
  int line = 0;      // 0 for the unnamed section
  std::vector<IniEntry> entries;
  const IniEntry* find(const std::string& key) const;
};

struct IniFile {
  std::string path;  // for error messages
  std::vector<IniSection> sections;
};

// Throws ConfigError("path:line: ...") on malformed lines.
IniFile parse_ini(const std::string& text, const std::string& path);
IniFile read_ini_file(const std::string& path);

}  // namespace lab
