#include "mkmaster/lab/inventory.h"

#include <fmt/core.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "base/read_file.h"
#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/config_text.h"
#include "mkmaster/lab/ini_file.h"

namespace lab {

namespace fs = std::filesystem;

namespace {

// A value and where it was written, so inherited values still point at
// their own line in errors.
struct Located {
  std::string value;
  std::string where;  // file:line
};

// Keys that a [lab] or [machine] section sets as defaults for its nodes.
const std::set<std::string> kInherited = {"device_type", "bmc_user", "password_file", "password_env", "bmc_port",
                                          "agent_port", "kernel_args"};
const std::set<std::string> kLabKeys = {"name_prefix", "tftp_root", "network", "device_types", "boards"};
const std::set<std::string> kNodeKeys = {"eth0_mac", "eth0_ip", "eth0_name", "eth1_mac", "eth1_ip",
                                         "eth1_name", "control_mac", "control_ip", "control_name",
                                         "bmc", "agent_host"};

using Scope = std::map<std::string, Located>;

struct Loader {
  std::string path;
  fs::path base;  // directory of the inventory, for relative paths

  std::string at(const IniEntry& e) const { return fmt::format("{}:{}", path, e.line); }

  [[noreturn]] void fail(const std::string& where, const std::string& field, const std::string& msg) const {
    throw ConfigError(fmt::format("{}:{}: {}", where, field, msg));
  }

  std::string resolve(const std::string& p) const { return (p.empty() || p[0] == '/') ? p : (base / p).string(); }

  // Checks one section's keys against what that section may hold.
  Scope collect(const IniSection& s, const std::set<std::string>& own, bool allow_inherited) const {
    Scope out;
    for (const auto& e : s.entries) {
      if (!own.count(e.key) && !(allow_inherited && kInherited.count(e.key)))
        fail(at(e), e.key, fmt::format("unknown key in [{}]", s.name));
      if (e.value.empty()) fail(at(e), e.key, "empty value");
      out[e.key] = {e.value, at(e)};
    }
    if (out.count("password_file") && out.count("password_env"))
      fail(out["password_env"].where, "password_env", "set together with password_file: choose one");
    return out;
  }
};

std::optional<Located> lookup(const std::vector<const Scope*>& chain, const std::string& key) {
  for (const Scope* s : chain) {
    auto it = s->find(key);
    if (it != s->end()) return it->second;
  }
  return std::nullopt;
}

}  // namespace

Inventory parse_inventory(const std::string& text, const std::string& path) {
  Loader L{path, fs::absolute(fs::path(path)).parent_path()};
  Inventory inv;
  inv.path = path;
  const IniFile file = parse_ini(text, path);
  if (!file.sections.front().entries.empty()) {
    const auto& e = file.sections.front().entries.front();
    L.fail(L.at(e), e.key, "key outside any section (start with [lab], [machine NN] or [node NN-NN])");
  }

  static const std::regex machine_re(R"(machine\s+([0-9]{1,3}))");
  static const std::regex node_re(R"(node\s+([0-9]{1,3})-([0-9]{1,3}))");
  Scope lab;
  bool have_lab = false;
  std::map<std::string, Scope> machines;
  for (const auto& s : file.sections) {
    if (s.name.empty()) continue;
    std::smatch m;
    const std::string header = fmt::format("{}:{}", path, s.line);
    if (s.name == "lab") {
      if (have_lab) L.fail(header, "[lab]", "duplicate section");
      lab = L.collect(s, kLabKeys, true);
      have_lab = true;
    } else if (std::regex_match(s.name, m, machine_re)) {
      machines[m[1]] = L.collect(s, {}, true);
      inv.machines.push_back(m[1]);
    } else if (!std::regex_match(s.name, node_re)) {
      L.fail(header, "[" + s.name + "]", "unknown section (expected [lab], [machine NN] or [node NN-NN])");
    }
  }

  if (auto v = lookup({&lab}, "name_prefix")) {
    inv.name_prefix = v->value;
    if (!is_valid_hostname(inv.name_prefix + "00-00-00")) L.fail(v->where, "name_prefix", "not a host name prefix");
  }
  if (auto v = lookup({&lab}, "tftp_root")) {
    if (v->value[0] != '/') L.fail(v->where, "tftp_root", "must be an absolute path (it is written into dnsmasq.conf)");
    inv.tftp_root = dnsmasq_field(v->value, v->where + ":tftp_root");
  }
  std::optional<Ipv4Net> net;
  if (auto v = lookup({&lab}, "network")) {
    net = parse_ipv4_net(v->value);
    if (!net) L.fail(v->where, "network", fmt::format("'{}' is not an IPv4 network like 192.168.2.0/24", v->value));
    inv.network = v->value;
  }
  inv.device_types_dir = L.resolve(lookup({&lab}, "device_types") ? lookup({&lab}, "device_types")->value : ".");
  if (auto v = lookup({&lab}, "boards")) inv.boards_dir = L.resolve(v->value);

  std::map<std::string, std::string> names, macs, ips;  // value -> where first used
  auto unique = [&](std::map<std::string, std::string>& seen, const std::string& value, const std::string& where,
                    const std::string& field, const char* what) {
    auto [it, fresh] = seen.emplace(value, where);
    if (!fresh) L.fail(where, field, fmt::format("duplicate {} {} (also at {})", what, value, it->second));
  };

  for (const auto& s : file.sections) {
    std::smatch m;
    if (!std::regex_match(s.name, m, node_re)) continue;
    const std::string header = fmt::format("{}:{}", path, s.line);
    Node n;
    n.machine = m[1];
    n.number = m[2];
    n.where = header;
    auto mit = machines.find(n.machine);
    if (mit == machines.end())
      L.fail(header, "[" + s.name + "]", fmt::format("machine {} has no [machine {}] section", n.machine, n.machine));
    const Scope own = L.collect(s, kNodeKeys, true);
    const std::vector<const Scope*> chain = {&own, &mit->second, &lab};
    n.name = fmt::format("{}{}-{}", inv.name_prefix, n.machine, n.number);
    unique(names, n.name, header, "[" + s.name + "]", "node");

    auto iface = [&](Interface& out, const std::string& prefix, const char* suffix, bool required) {
      auto name = lookup({&own}, prefix + "_name");
      out.name = name ? name->value : fmt::format("{}-{}", n.name, suffix);
      if (!is_valid_hostname(out.name))
        L.fail(name ? name->where : header, prefix + "_name", fmt::format("'{}' is not a valid host name", out.name));
      auto mac = lookup({&own}, prefix + "_mac");
      auto ip = lookup({&own}, prefix + "_ip");
      if (!mac && !ip) {
        if (required) L.fail(header, prefix + "_mac", "required");
        return;
      }
      if (!mac) L.fail(ip->where, prefix + "_mac", fmt::format("{}_ip given without {}_mac", prefix, prefix));
      if (!ip) L.fail(mac->where, prefix + "_ip", fmt::format("{}_mac given without {}_ip", prefix, prefix));
      auto norm = normalize_mac(mac->value);
      if (!norm) L.fail(mac->where, prefix + "_mac", fmt::format("'{}' is not a MAC address like fc:2f:40:17:da:28", mac->value));
      auto addr = parse_ipv4(ip->value);
      if (!addr) L.fail(ip->where, prefix + "_ip", fmt::format("'{}' is not an IPv4 address", ip->value));
      if (net && !net->contains(*addr))
        L.fail(ip->where, prefix + "_ip", fmt::format("{} is outside the lab network {}", ip->value, inv.network));
      out.mac = *norm;
      out.ip = ip->value;
      unique(names, out.name, name ? name->where : header, prefix + "_name", "host name");
      unique(macs, out.mac, mac->where, prefix + "_mac", "MAC");
      unique(ips, out.ip, ip->where, prefix + "_ip", "IP address");
    };
    iface(n.eth0, "eth0", "00", true);
    iface(n.eth1, "eth1", "01", false);
    iface(n.control, "control", "02", false);

    if (auto v = lookup(chain, "bmc")) {
      if (!is_valid_host(v->value)) L.fail(v->where, "bmc", fmt::format("'{}' is not an IPv4 address or host name", v->value));
      n.bmc_host = v->value;
    } else if (n.control.present()) {
      n.bmc_host = n.control.ip;
    } else {
      L.fail(header, "bmc", "required when the node has no control_ip");
    }
    if (auto v = lookup(chain, "bmc_port")) {
      auto p = parse_port(v->value);
      if (!p) L.fail(v->where, "bmc_port", fmt::format("'{}' is not a port number", v->value));
      n.bmc_port = *p;
    }
    if (auto v = lookup(chain, "agent_port")) {
      auto p = parse_port(v->value);
      if (!p) L.fail(v->where, "agent_port", fmt::format("'{}' is not a port number", v->value));
      n.agent_port = *p;
    }
    if (auto v = lookup(chain, "kernel_args")) {
      // One pxelinux `append` line: printable, no line breaks.
      for (char c : v->value)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          L.fail(v->where, "kernel_args", "control characters are not allowed");
      n.kernel_args = v->value;
    }
    if (auto v = lookup(chain, "agent_host")) {
      if (!is_valid_host(v->value)) L.fail(v->where, "agent_host", fmt::format("'{}' is not a host", v->value));
      n.agent_host = v->value;
    } else {
      n.agent_host = n.eth0.ip;
    }
    auto user = lookup(chain, "bmc_user");
    if (!user) L.fail(header, "bmc_user", "required (in [node], its [machine] or [lab])");
    // ipmitool's -U takes one argv word; IPMI user names are at most 16 bytes.
    static const std::regex user_re(R"([A-Za-z0-9._@-]{1,16})");
    if (!std::regex_match(user->value, user_re))
      L.fail(user->where, "bmc_user", "must be 1-16 characters of [A-Za-z0-9._@-]");
    n.bmc_user = user->value;
    // The most specific scope that names a credential source wins.
    bool found = false;
    for (const Scope* sc : chain) {
      auto f = sc->find("password_file");
      auto e = sc->find("password_env");
      if (f != sc->end()) n.password_file = L.resolve(f->second.value);
      if (e != sc->end()) {
        static const std::regex env_re(R"([A-Za-z_][A-Za-z0-9_]*)");
        if (!std::regex_match(e->second.value, env_re))
          L.fail(e->second.where, "password_env", "not an environment variable name");
        n.password_env = e->second.value;
      }
      if ((found = f != sc->end() || e != sc->end())) break;
    }
    if (!found) L.fail(header, "password_file", "no credentials: set password_file or password_env");
    auto type = lookup(chain, "device_type");
    if (!type) L.fail(header, "device_type", "required (in [node], its [machine] or [lab])");
    static const std::regex type_re(R"([A-Za-z0-9][A-Za-z0-9_.-]*)");
    if (!std::regex_match(type->value, type_re)) L.fail(type->where, "device_type", "not a device type name");
    n.device_type = type->value;
    n.device_type_where = type->where;
    n.device_type_config = (fs::path(inv.device_types_dir) / (n.device_type + ".conf")).string();
    if (!fs::exists(n.device_type_config))
      L.fail(type->where, "device_type", fmt::format("no device config {} for type '{}'", n.device_type_config, n.device_type));
    inv.nodes.push_back(std::move(n));
  }
  if (inv.nodes.empty()) throw ConfigError(fmt::format("{}: no [node NN-NN] sections", path));
  return inv;
}

void attach_boards(Inventory& inv, const std::string& default_dir) {
  const std::string dir = inv.boards_dir.empty() ? default_dir : inv.boards_dir;
  std::map<std::string, BoardProfile> loaded;
  for (auto& n : inv.nodes) {
    auto it = loaded.find(n.device_type);
    if (it == loaded.end())
      it = loaded.emplace(n.device_type, load_board_profile(dir, n.device_type, n.device_type_where + ": device_type"))
               .first;
    n.board = it->second;
  }
}

Inventory load_inventory(const std::string& path) {
  const auto text = base::read_file(path);
  if (!text) throw ConfigError(fmt::format("{}: cannot open inventory", path));
  return parse_inventory(*text, path);
}

const Node& Inventory::node(const std::string& name) const {
  for (const auto& n : nodes) {
    if (n.name == name || n.eth0.name == name || n.eth1.name == name || n.control.name == name ||
        n.machine + "-" + n.number == name)
      return n;
  }
  throw ConfigError(fmt::format("{}: no node named '{}'", path, name));
}

std::string read_bmc_password(const Node& node) {
  if (!node.password_env.empty()) {
    const char* v = std::getenv(node.password_env.c_str());
    if (!v || !*v)
      throw ConfigError(fmt::format("{}: BMC password: environment variable {} is not set", node.name, node.password_env));
    return v;
  }
  struct stat st {};
  if (::stat(node.password_file.c_str(), &st) != 0)
    throw ConfigError(fmt::format("{}: BMC password file {} cannot be read", node.name, node.password_file));
  if (st.st_mode & S_IRWXO)
    throw ConfigError(fmt::format("{}: BMC password file {} is accessible by others (chmod o-rwx it)", node.name,
                                  node.password_file));
  std::ifstream in(node.password_file, std::ios::binary);
  std::string pw;
  std::getline(in, pw);  // the first line; a trailing newline is not part of it
  if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  if (pw.empty()) throw ConfigError(fmt::format("{}: BMC password file {} is empty", node.name, node.password_file));
  return pw;
}

}  // namespace lab
