#include "mkmaster/bmc/node_console.h"

namespace bmc {

ConsoleOptions console_options(const NodeControl& ctl, const std::string& transcript_path, base::LogFn log) {
  const lab::DeviceConfig& cfg = ctl.config();
  ConsoleOptions o;
  std::string note;
  o.connect_argv = ctl.command_argv("connection_command", &note);
  if (log && !note.empty()) log(note);
  if (cfg.has("sol_deactivate_cmd")) o.deactivate_argv = ctl.command_argv("sol_deactivate_cmd", &note);
  if (log && !note.empty()) log(note);
  o.env = {{"IPMI_PASSWORD", ctl.password()}};
  o.secrets = {ctl.password()};
  o.bootloader_delay = std::chrono::milliseconds(cfg.get_int("bootloader_serial_delay_ms"));
  o.shell_delay = std::chrono::milliseconds(cfg.get_int("test_shell_serial_delay_ms"));
  o.prompt = cfg.get("master_prompt");
  o.transcript_path = transcript_path;
  o.log = std::move(log);
  return o;
}

}  // namespace bmc
