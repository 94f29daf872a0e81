#include "mkmaster/lab/device_config.h"

#include <fmt/core.h>

#include <charconv>

#include "base/strings.h"
#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/config_text.h"
#include "mkmaster/lab/ini_file.h"

namespace lab {

void DeviceConfig::set(const std::string& key, const std::string& raw, const std::string& origin) {
  const std::string k = base::to_lower(key);
  // Every layer, not only files: a value with a line break would carry it
  // into the command lines and files made from this config.
  check_one_line(k, origin + ":key");
  check_one_line(raw, origin + ":" + k);
  values_[k] = {raw, origin};
}

void DeviceConfig::load_file(const std::string& path) { load_ini(read_ini_file(path)); }

void DeviceConfig::load_text(const std::string& text, const std::string& path) { load_ini(parse_ini(text, path)); }

void DeviceConfig::load_ini(const IniFile& file) {
  const std::string& path = file.path;
  for (const auto& section : file.sections) {
    if (!section.name.empty() && section.name != "DEFAULT" && section.name != "__main__")
      throw ConfigError(fmt::format("{}:{}: unexpected section [{}] in a device config (keys go at the top level)",
                                    path, section.line, section.name));
    for (const auto& e : section.entries) set(e.key, e.value, fmt::format("{}:{}", path, e.line));
  }
}

bool DeviceConfig::has(const std::string& key) const { return values_.count(base::to_lower(key)) != 0; }

std::string DeviceConfig::get(const std::string& key) const {
  if (!has(key)) throw ConfigError(fmt::format("device config: missing key '{}'", key));
  return interpolate(base::to_lower(key), 0);
}

std::optional<std::string> DeviceConfig::find(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get(key);
}

int DeviceConfig::get_int(const std::string& key) const {
  const std::string v = get(key);
  int out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || ec != std::errc{} || ptr != v.data() + v.size())
    throw ConfigError(fmt::format("{}:{}: expected an integer, got '{}'", origin(key), base::to_lower(key), v));
  return out;
}

std::string DeviceConfig::raw(const std::string& key) const {
  auto it = values_.find(base::to_lower(key));
  return it == values_.end() ? std::string() : it->second.first;
}

std::string DeviceConfig::origin(const std::string& key) const {
  auto it = values_.find(base::to_lower(key));
  return it == values_.end() ? std::string("<unset>") : it->second.second;
}

std::string DeviceConfig::interpolate(const std::string& key, int depth) const {
  const auto& [raw, where] = values_.at(key);
  if (depth > kMaxDepth)
    throw ConfigError(fmt::format("{}:{}: interpolation deeper than {} levels (a reference cycle?)", where, key,
                                  kMaxDepth));
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '%') {
      out.push_back(raw[i]);
      continue;
    }
    if (i + 1 < raw.size() && raw[i + 1] == '%') {
      out.push_back('%');
      ++i;
      continue;
    }
    const std::size_t close = raw.find(")s", i);
    if (i + 1 >= raw.size() || raw[i + 1] != '(' || close == std::string::npos)
      throw ConfigError(fmt::format("{}:{}: '%' must be followed by '%' or '(name)s': {}", where, key, raw));
    const std::string name = base::to_lower(raw.substr(i + 2, close - i - 2));
    if (!values_.count(name))
      throw ConfigError(fmt::format("{}:{}: refers to unknown key '{}' in %({})s", where, key, name, name));
    out += interpolate(name, depth + 1);
    i = close + 1;
  }
  return out;
}

}  // namespace lab
