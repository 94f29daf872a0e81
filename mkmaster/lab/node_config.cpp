#include "mkmaster/lab/node_config.h"

#include <fmt/core.h>

namespace lab {

std::vector<std::pair<std::string, std::string>> node_variables(const Node& n) {
  std::vector<std::pair<std::string, std::string>> v = {
      {"device_type", n.device_type},
      {"hostname", n.name},
      // LAVA's name for the BMC ("ECME" on Calxeda) address.
      {"ecmeip", n.bmc_host},
      {"bmc_port", std::to_string(n.bmc_port)},
      {"bmc_user", n.bmc_user},
      {"eth0_mac", n.eth0.mac},
      {"eth0_ip", n.eth0.ip},
      {"agent_host", n.agent_host},
      {"agent_port", std::to_string(n.agent_port)},
  };
  if (n.eth1.present()) {
    v.emplace_back("eth1_mac", n.eth1.mac);
    v.emplace_back("eth1_ip", n.eth1.ip);
  }
  if (n.control.present()) {
    v.emplace_back("control_mac", n.control.mac);
    v.emplace_back("control_ip", n.control.ip);
  }
  return v;
}

std::vector<std::pair<std::string, std::string>> default_device_settings() {
  // The password never appears here: -E makes ipmitool read IPMI_PASSWORD,
  // which mkmaster puts into the child's environment only.
  return {
      {"ipmi_interface", "lanplus"},
      {"ipmi_cipher", "3"},
      {"ipmi_base", "ipmitool -I %(ipmi_interface)s -C %(ipmi_cipher)s -H %(ecmeip)s -p %(bmc_port)s -U %(bmc_user)s -E"},
      {"power_on_cmd", "%(ipmi_base)s chassis power on"},
      {"power_off_cmd", "%(ipmi_base)s chassis power off"},
      {"hard_reset_command", "%(ipmi_base)s chassis power reset"},
      {"power_status_cmd", "%(ipmi_base)s chassis power status"},
      // Persistent: every boot until the flashed disk is verified is PXE.
      {"bootdev_pxe_cmd", "%(ipmi_base)s chassis bootdev pxe options=persistent"},
      {"bootdev_disk_cmd", "%(ipmi_base)s chassis bootdev disk"},
      {"connection_command", "%(ipmi_base)s sol activate"},
      {"sol_deactivate_cmd", "%(ipmi_base)s sol deactivate"},
      {"bootloader_serial_delay_ms", "0"},
      {"test_shell_serial_delay_ms", "0"},
      // ECMAScript regexes, matched against the end of the console output.
      {"master_prompt", "(\\((initramfs|initrd)\\)|[#$]) ?$"},
      {"login_prompt", "login: ?$"},
  };
}

DeviceConfig node_device_config(const Node& node) {
  DeviceConfig cfg;
  for (const auto& [k, v] : default_device_settings()) cfg.set(k, v, "<built-in default>");
  cfg.load_file(node.device_type_config);
  for (const auto& [k, v] : node_variables(node)) cfg.set(k, v, fmt::format("{} ({})", node.where, node.name));
  // For templates that prefer `ipmitool -f FILE` over -E. Not written to
  // devices/<node>.conf: it is a local path, not a property of the node.
  if (!node.password_file.empty()) cfg.set("bmc_password_file", node.password_file, node.where);
  return cfg;
}

}  // namespace lab
