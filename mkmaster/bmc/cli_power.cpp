// mkmaster power on|off|reset|status NODE…
#include <fmt/core.h>

#include <mutex>

#include "mkmaster/cli/commands.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/bmc/cli_node_common.h"
#include "base/parallel.h"

namespace {

struct Options {
  bmc::NodeArgs args;
  std::string action;
};

}  // namespace

void cli::add_power(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("power", "power nodes on/off/reset or show their power status via their BMC");
  sub->add_option("action", opt->action, "on, off, reset or status")
      ->required()
      ->check(CLI::IsMember({"on", "off", "reset", "status"}));
  bmc::add_node_args(sub, opt->args);
  sub->callback([opt] {
    // A BMC command needs no board profile: a lab whose device types mkmaster
    // has no profile for can still power and watch its nodes.
    const auto inv = lab::load_inventory(opt->args.inventory);
    const auto action = opt->action == "on"      ? bmc::PowerAction::On
                        : opt->action == "off"   ? bmc::PowerAction::Off
                        : opt->action == "reset" ? bmc::PowerAction::Reset
                                                 : bmc::PowerAction::Status;
    std::mutex out;
    const auto& nodes = opt->args.nodes;
    auto errors = base::for_each_bounded(nodes.size(), opt->args.parallel, [&](std::size_t i) {
      auto ctl = bmc::make_control(inv, nodes[i], opt->args.verbose);
      const std::string result = ctl.power(action);
      std::lock_guard lock(out);
      if (action == bmc::PowerAction::Status)
        fmt::print("{}: {}\n", ctl.node().name, result);
      else
        fmt::print("{}: power {}: ok\n", ctl.node().name, opt->action);
    });
    bmc::report(nodes, errors);
  });
}
