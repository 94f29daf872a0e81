#include "mkmaster/bmc/ipmi.h"

#include <fmt/core.h>

#include <stdexcept>
#include <thread>

#include "base/strings.h"
#include "base/subprocess.h"
#include "mkmaster/bmc/command_template.h"
#include "mkmaster/lab/config_error.h"

namespace bmc {

const char* to_string(PowerAction a) {
  switch (a) {
    case PowerAction::On: return "on";
    case PowerAction::Off: return "off";
    case PowerAction::Reset: return "reset";
    case PowerAction::Status: return "status";
  }
  return "?";
}

const char* to_string(BootDevice d) { return d == BootDevice::Pxe ? "pxe" : "disk"; }

namespace {
// What ipmitool's failure most likely means, for the error message.
std::string diagnose(const std::string& output, const lab::Node& node) {
  if (output.find("Unable to establish IPMI") != std::string::npos)
    return fmt::format(" (wrong BMC user/password for '{}', or no BMC answering at {}:{})", node.bmc_user,
                       node.bmc_host, node.bmc_port);
  return "";
}
}  // namespace

NodeControl::NodeControl(const lab::Node& node, lab::DeviceConfig config, std::string password, base::LogFn log, RetryPolicy retry)
    : node_(node), config_(std::move(config)), password_(std::move(password)), log_(std::move(log)), retry_(retry) {}

IpmiSession NodeControl::session() const {
  const std::string cipher = config_.get("ipmi_cipher");
  if (cipher.empty() || cipher.size() > 2 || cipher.find_first_not_of("0123456789") != std::string::npos)
    throw lab::ConfigError(fmt::format("{}:ipmi_cipher: '{}' is not a cipher suite number", config_.origin("ipmi_cipher"),
                                       cipher));
  return {node_.bmc_user, cipher, node_.bmc_port};
}

std::vector<std::string> NodeControl::command_argv(const std::string& key, std::string* note) const {
  const auto argv = split_command(config_.get(key), config_.origin(key) + ":" + key);
  std::string replaced;
  auto out = with_inventory_session(argv, session(), &replaced);
  if (note) {
    note->clear();
    if (!replaced.empty())
      *note = fmt::format("{} ({}): the template's {} replaced by the inventory's session: {}", key, config_.origin(key),
                          replaced, masked_command(std::vector<std::string>(out.begin(), out.begin() + 8)));
  }
  return out;
}

std::string NodeControl::run(const std::string& key, const std::string& what, bool idempotent) {
  std::string note;
  const auto argv = command_argv(key, &note);
  if (log_ && !note.empty() && noted_.insert(key).second) log_(note);
  const int attempts = idempotent ? std::max(1, retry_.attempts) : 1;
  auto delay = retry_.first_delay;
  std::string last_error;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (log_) log_(fmt::format("{}: run {}", what, masked_command(argv, {password_})));
    const auto start = std::chrono::steady_clock::now();
    const base::ProcessResult r = base::run_process(argv, {{"IPMI_PASSWORD", password_}}, retry_.command_timeout);
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    const std::string output = mask_secrets(base::trim_end(r.output), {password_});
    if (r.exit_code == 0) {
      if (log_) log_(fmt::format("{}: ok in {} ms: {}", what, ms.count(), output));
      return output;
    }
    if (r.spawn_failed)
      last_error = output;
    else if (r.timed_out)
      last_error = fmt::format("{} timed out after {} ms", argv[0], retry_.command_timeout.count());
    else
      last_error = fmt::format("{} exited {}: {}{}", argv[0], r.exit_code, output, diagnose(output, node_));
    if (log_) log_(fmt::format("{}: attempt {}/{} failed in {} ms: {}", what, attempt, attempts, ms.count(), last_error));
    if (attempt < attempts) {
      std::this_thread::sleep_for(delay);
      delay *= 2;
    }
  }
  throw std::runtime_error(fmt::format("{}: {} failed: {}", node_.name, what, last_error));
}

std::string NodeControl::power(PowerAction action) {
  switch (action) {
    case PowerAction::On: return run("power_on_cmd", "power on", false);
    case PowerAction::Off: return run("power_off_cmd", "power off", true);
    case PowerAction::Reset: return run("hard_reset_command", "power reset", false);
    case PowerAction::Status: {
      const std::string out = run("power_status_cmd", "power status", true);
      if (out.find("is on") != std::string::npos) return "on";
      if (out.find("is off") != std::string::npos) return "off";
      throw std::runtime_error(fmt::format("{}: power status: unexpected ipmitool output: {}", node_.name, out));
    }
  }
  throw std::logic_error("bad PowerAction");
}

void NodeControl::limit_for_cleanup(std::chrono::milliseconds limit) {
  retry_.attempts = 1;
  retry_.command_timeout = std::min(retry_.command_timeout, limit);
}

void NodeControl::bootdev(BootDevice device) {
  run(device == BootDevice::Pxe ? "bootdev_pxe_cmd" : "bootdev_disk_cmd", fmt::format("bootdev {}", to_string(device)),
      true);
}

}  // namespace bmc
