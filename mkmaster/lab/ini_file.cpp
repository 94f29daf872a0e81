#include "mkmaster/lab/ini_file.h"

#include <fmt/core.h>

#include <cctype>
#include <set>
#include <sstream>

#include "base/read_file.h"
#include "base/strings.h"
#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/config_text.h"

namespace lab {

const IniEntry* IniSection::find(const std::string& key) const {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

IniFile parse_ini(const std::string& text, const std::string& path) {
  IniFile file{path, {}};
  file.sections.push_back(IniSection{"", 0, {}});
  std::set<std::string> section_names;
  std::set<std::string> keys;  // of the current section
  IniEntry* last = nullptr;     // the entry a continuation line extends
  std::istringstream in(text);
  std::string raw;
  int lineno = 0;
  while (std::getline(in, raw)) {
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    const std::string line = base::trim(raw);
    if (line.empty()) {
      last = nullptr;
      continue;
    }
    if (line[0] == '#' || line[0] == ';') continue;
    if (std::isspace(static_cast<unsigned char>(raw[0])) && last) {
      // ConfigParser would append this line to the value above. A value
      // with a line break becomes two lines in every file generated from
      // it (a `tftp_root` continuation once wrote `dhcp-script=` into
      // dnsmasq.conf), so multi-line values are refused.
      throw ConfigError(fmt::format("{}:{}:{}: indented line continues the value of '{}' (line {}): multi-line "
                                    "values are not allowed (they would become extra lines in generated files)",
                                    path, lineno, last->key, last->key, last->line));
    }

    if (line[0] == '[') {
      if (line.back() != ']')
        throw ConfigError(fmt::format("{}:{}: section header without closing ']': {}", path, lineno, line));
      const std::string name = base::trim(line.substr(1, line.size() - 2));
      check_one_line(name, fmt::format("{}:{}:[section]", path, lineno));
      if (name.empty()) throw ConfigError(fmt::format("{}:{}: empty section name", path, lineno));
      if (!section_names.insert(name).second)
        throw ConfigError(fmt::format("{}:{}: duplicate section [{}]", path, lineno, name));
      file.sections.push_back(IniSection{name, lineno, {}});
      keys.clear();
      last = nullptr;
      continue;
    }
    const std::size_t sep = line.find_first_of("=:");
    if (sep == std::string::npos || sep == 0)
      throw ConfigError(fmt::format("{}:{}: expected 'key = value', got: {}", path, lineno, line));
    IniEntry entry{base::to_lower(base::trim(line.substr(0, sep))), base::trim(line.substr(sep + 1)), lineno};
    check_one_line(entry.key, fmt::format("{}:{}:key", path, lineno));
    check_one_line(entry.value, fmt::format("{}:{}:{}", path, lineno, entry.key));
    if (!keys.insert(entry.key).second)
      throw ConfigError(fmt::format("{}:{}:{}: duplicate key in {}", path, lineno, entry.key,
                                    file.sections.back().name.empty() ? std::string("file")
                                                                      : "[" + file.sections.back().name + "]"));
    file.sections.back().entries.push_back(std::move(entry));
    last = &file.sections.back().entries.back();
  }
  return file;
}

IniFile read_ini_file(const std::string& path) {
  const auto text = base::read_file(path);
  if (!text) throw ConfigError(fmt::format("{}: cannot open", path));
  return parse_ini(*text, path);
}

}  // namespace lab
