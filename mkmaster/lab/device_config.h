#pragma once
// A LAVA-style device configuration: key/value pairs with Python
// ConfigParser "basic" interpolation (`%(name)s`, `%%` for a literal '%').
// Layers are applied in order (built-in defaults, the device-type file such
// as highbank.conf, then the per-node values from the inventory); a later
// layer overrides a key, and interpolation sees the merged result, which is
// how LAVA combines device-types/<type>.conf with devices/<name>.conf.
#include <map>
#include <optional>
#include <string>

#include "mkmaster/lab/ini_file.h"

namespace lab {

class DeviceConfig {
 public:
  // origin: where the value came from ("highbank.conf:3"), for errors.
  // Throws ConfigError("<origin>:<key>: …") for a control character or line
  // break in key or value (config_text.h).
  void set(const std::string& key, const std::string& raw, const std::string& origin);
  // Adds every key of an INI file's unnamed (or [DEFAULT]/[__main__]) section.
  void load_file(const std::string& path);
  // The same from text already in memory (path names it in errors).
  void load_text(const std::string& text, const std::string& path);

  bool has(const std::string& key) const;
  // The interpolated value; throws ConfigError naming the origin on an
  // unknown key, a reference to an unknown key, bad '%' syntax or a
  // reference chain deeper than kMaxDepth (a cycle).
  std::string get(const std::string& key) const;
  std::optional<std::string> find(const std::string& key) const;
  int get_int(const std::string& key) const;
  std::string raw(const std::string& key) const;
  std::string origin(const std::string& key) const;
  const std::map<std::string, std::pair<std::string, std::string>>& entries() const { return values_; }

  // Same limit as ConfigParser's MAX_INTERPOLATION_DEPTH.
  static constexpr int kMaxDepth = 10;

 private:
  void load_ini(const IniFile& file);
  std::string interpolate(const std::string& key, int depth) const;
  std::map<std::string, std::pair<std::string, std::string>> values_;  // key -> (raw, origin)
};

}  // namespace lab
