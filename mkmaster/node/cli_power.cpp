// mkmaster power on|off|reset|status NODE…
#include <fmt/core.h>

#include <mutex>

#include "mkmaster/cli/command_registry.h"
#include "mkmaster/node/cli_node_common.h"
#include "mkmaster/node/parallel.h"

namespace {

struct Options {
  mknode::cli::NodeArgs args;
  std::string action;
};

mkcli::Registration reg{"power", [](CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("power", "power nodes on/off/reset or show their power status via their BMC");
  sub->add_option("action", opt->action, "on, off, reset or status")
      ->required()
      ->check(CLI::IsMember({"on", "off", "reset", "status"}));
  mknode::cli::add_node_args(sub, opt->args);
  sub->callback([opt] {
    const auto inv = mknode::load_inventory(opt->args.inventory);
    const auto action = opt->action == "on"      ? mknode::PowerAction::On
                        : opt->action == "off"   ? mknode::PowerAction::Off
                        : opt->action == "reset" ? mknode::PowerAction::Reset
                                                 : mknode::PowerAction::Status;
    std::mutex out;
    const auto& nodes = opt->args.nodes;
    auto errors = mknode::for_each_bounded(nodes.size(), opt->args.parallel, [&](std::size_t i) {
      auto ctl = mknode::cli::make_control(inv, nodes[i], opt->args.verbose);
      const std::string result = ctl.power(action);
      std::lock_guard lock(out);
      if (action == mknode::PowerAction::Status)
        fmt::print("{}: {}\n", ctl.node().name, result);
      else
        fmt::print("{}: power {}: ok\n", ctl.node().name, opt->action);
    });
    mknode::cli::report(nodes, errors);
  });
}};

}  // namespace
