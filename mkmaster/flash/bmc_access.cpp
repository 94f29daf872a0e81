// The pipeline's default NodeAccess: IPMI power/bootdev and the SOL console
// built from the node's merged device config, with the BMC password kept in
// the child's environment (ipmitool -E), never in argv.
#include <memory>

#include "mkmaster/bmc/ipmi.h"
#include "mkmaster/bmc/node_console.h"
#include "mkmaster/bmc/sol_console.h"
#include "mkmaster/flash/flash.h"
#include "mkmaster/lab/node_config.h"

namespace flash {

NodeAccess bmc_access(const lab::Node& node, const AccessRequest& req) {
  const std::string password = lab::read_bmc_password(node);
  auto ctl = std::make_unique<bmc::NodeControl>(node, lab::node_device_config(node), password, req.log);
  auto con_opts = bmc::console_options(*ctl, req.transcript_path,
                                       [log = req.log](const std::string& l) {
                                         if (log) log("console: " + l);
                                       });
  con_opts.connect_timeout = req.connect_timeout;
  NodeAccess a;
  a.login_prompt = ctl->config().get("login_prompt");
  a.console = std::make_unique<bmc::SolConsole>(std::move(con_opts));
  a.power = std::move(ctl);
  a.secrets = {password};
  return a;
}

}  // namespace flash
