#pragma once
// Power and boot-device control of one node through ipmitool command
// templates from its device config (power_on_cmd, power_off_cmd,
// hard_reset_command, power_status_cmd, bootdev_pxe_cmd, bootdev_disk_cmd).
// The BMC password goes to the child as IPMI_PASSWORD (for -E) only.
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "mkmaster/lab/device_config.h"
#include "mkmaster/lab/inventory.h"
#include "base/log.h"
#include "mkmaster/bmc/command_template.h"
#include "mkmaster/bmc/node_access.h"

namespace bmc {

struct RetryPolicy {
  int attempts = 3;                                 // for idempotent actions only
  std::chrono::milliseconds first_delay{500};       // doubled after each failure
  std::chrono::milliseconds command_timeout{30000};  // per ipmitool run
};

class NodeControl : public PowerControl {
 public:
  // password: the node's BMC password (read_bmc_password), put in the env only.
  NodeControl(const lab::Node& node, lab::DeviceConfig config, std::string password, base::LogFn log, RetryPolicy retry = {});

  // Returns ipmitool's output (trimmed). Status returns "on" or "off".
  // Throws std::runtime_error "<node>: power <action>: <why>" on failure.
  std::string power(PowerAction action) override;
  void bootdev(BootDevice device) override;
  void limit_for_cleanup(std::chrono::milliseconds limit) override;

  // The argv for a template key, after interpolation, with the inventory's
  // IPMI session in place of the template's credentials
  // (with_inventory_session, command_template.h). note, if given, gets a
  // line saying what was replaced ("" if nothing was).
  std::vector<std::string> command_argv(const std::string& key, std::string* note = nullptr) const;
  IpmiSession session() const;
  const lab::DeviceConfig& config() const { return config_; }
  const std::string& password() const { return password_; }
  const lab::Node& node() const { return node_; }

 private:
  std::string run(const std::string& key, const std::string& what, bool idempotent);

  lab::Node node_;
  lab::DeviceConfig config_;
  std::string password_;
  base::LogFn log_;
  RetryPolicy retry_;
  std::set<std::string> noted_;  // template keys whose rewrite was logged
};

}  // namespace bmc
