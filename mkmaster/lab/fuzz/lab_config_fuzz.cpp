// Fuzzes what a lab's configuration goes through: the INI reader, the
// inventory, device configs with %(name)s interpolation, the ipmitool
// session rewrite, and every file `labfiles` renders. The input is an
// inventory, optionally followed by "\n%%DEVICE%%\n" and a device-type file
// (highbank.conf). Readers may refuse input (ConfigError) but must never
// crash, and whatever they accept must render into files that hold: text
// lines only, dnsmasq.conf made of the options we write and nothing else,
// pxelinux menus of menu commands only, device configs that read back as
// exactly the node's values, and ipmitool argv without the template's -P.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "base/strings.h"
#include "mkmaster/bmc/command_template.h"
#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/config_text.h"
#include "mkmaster/lab/device_config.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/lab/labfiles.h"
#include "mkmaster/lab/node_config.h"

namespace {

namespace fs = std::filesystem;

[[noreturn]] void violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "lab_config_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// A directory with highbank.conf, so that `device_type = highbank` in a
// fuzzed inventory (whose path is <dir>/lab.ini) resolves.
const fs::path& work_dir() {
  static const fs::path dir = [] {
    char tmpl[] = "/tmp/lab_config_fuzz.XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    if (!d) std::abort();
    std::ofstream(fs::path(d) / "highbank.conf")
        << "client_type = highbank\nconnection_command = ipmitool -I lanplus -U admin -P admin -H %(ecmeip)s sol "
           "activate\n";
    // libFuzzer ends with exit(): the directory goes with the process. The
    // handler reads a plain copy of the name, which outlives every static.
    static char name[sizeof tmpl];
    std::memcpy(name, d, sizeof tmpl);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(name, ec);
    });
    return fs::path(d);
  }();
  return dir;
}

bool starts_with_any(const std::string& line, std::initializer_list<const char*> prefixes) {
  for (const char* p : prefixes)
    if (line.rfind(p, 0) == 0) return true;
  return false;
}

void check_lines(const std::string& text, const std::string& name, std::initializer_list<const char*> allowed) {
  try {
    lab::check_generated(text, name);
  } catch (const lab::ConfigError& e) {
    violated("generated file is not lines of text", e.what());
  }
  for (const auto& line : base::split(text, '\n'))
    if (!line.empty() && !starts_with_any(line, allowed)) violated("unexpected line", name + ": " + line);
}

void check_node(const lab::Node& n) {
  check_lines(lab::render_pxelinux_config(n, "initrd.zst"), "pxelinux",
              {"# ", "DEFAULT menu", "PROMPT 0", "MENU TITLE ", "TIMEOUT 20", "ONTIMEOUT lava-master",
               "LABEL lava-master", "initrd files/", "MENU LABEL lava-master", "append console=ttyAMA0 nosplash break",
               "kernel files/", "fdt files/"});
  const std::string dev = lab::render_device_config(n);
  check_lines(dev, "device config", {"# ", "device_type = ", "hostname = ", "ecmeip = ", "bmc_port = ", "bmc_user = ",
                                     "eth0_", "eth1_", "control_", "agent_host = ", "agent_port = "});
  lab::DeviceConfig back;
  back.load_text(dev, "device config");
  for (const auto& [k, v] : lab::node_variables(n))
    if (back.get(k) != v) violated("device config does not read back", k + " = " + v + " came back as " + back.get(k));
}

// A device-type file with the node layer on top: every key interpolates or
// is refused, and every ipmitool command loses the template's -P.
void check_device_type(const std::string& text, const lab::Node* node) {
  lab::DeviceConfig cfg;
  for (const auto& [k, v] : lab::default_device_settings()) cfg.set(k, v, "<built-in default>");
  cfg.load_text(text, "highbank.conf");
  if (node)
    for (const auto& [k, v] : lab::node_variables(*node)) cfg.set(k, v, node->where);
  for (const auto& [key, _] : cfg.entries()) {
    std::string value;
    try {
      value = cfg.get(key);
    } catch (const lab::ConfigError&) {
      continue;
    }
    if (!lab::control_character(value).empty()) violated("interpolated value has a control character", key);
    std::vector<std::string> argv;
    try {
      argv = bmc::split_command(value, key);
    } catch (const lab::ConfigError&) {
      continue;
    }
    if (argv[0] != "ipmitool") continue;
    const auto out = bmc::with_inventory_session(argv, {"lava", "3", 623});
    // Read the result as ipmitool's getopt would: no -P, -f or -a anywhere
    // in its options (our -U/-E/-C/-p come first).
    for (std::size_t i = 1; i < out.size(); ++i) {
      const std::string& w = out[i];
      if (w == "--" || w.size() < 2 || w[0] != '-') break;
      for (std::size_t j = 1; j < w.size(); ++j) {
        const char c = w[j];
        if (c == 'P' || c == 'f' || c == 'a') violated("ipmitool keeps a password option", value);
        if (std::string_view("IoHdPfUpCLAtTmzSlbBekyORNZ").find(c) != std::string_view::npos) {
          if (j + 1 == w.size()) ++i;
          break;
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string sep = "\n%%DEVICE%%\n";
  const std::size_t at = input.find(sep);
  const std::string inventory = input.substr(0, at);
  const std::string device = at == std::string::npos ? "" : input.substr(at + sep.size());
  const std::string path = (work_dir() / "lab.ini").string();

  lab::Inventory inv;
  bool loaded = false;
  try {
    inv = lab::parse_inventory(inventory, path);
    // As commands load it: a device_type without a board profile is refused.
    lab::attach_boards(inv, MKMASTER_BOARDS_DIR);
    loaded = true;
  } catch (const lab::ConfigError&) {
  }
  if (loaded) {
    try {
      check_lines(lab::render_dnsmasq_conf(inv), "dnsmasq.conf",
                  {"# ", "dhcp-host=", "dhcp-range=", "dhcp-boot=tag:lava-master,master/pxelinux.0", "enable-tftp",
                   "tftp-root=/"});
      for (const auto& n : inv.nodes) check_node(n);
    } catch (const lab::ConfigError& e) {
      // The inventory accepted it, so the renderers must too.
      violated("an accepted inventory does not render", e.what());
    }
  }
  if (at != std::string::npos) {
    try {
      check_device_type(device, loaded ? &inv.nodes.front() : nullptr);
    } catch (const lab::ConfigError&) {
    }
  }
  return 0;
}
