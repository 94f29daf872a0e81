// mkmaster bootdev pxe|disk NODE…
#include <fmt/core.h>

#include <mutex>

#include "mkmaster/cli/command_registry.h"
#include "mkmaster/node/cli_node_common.h"
#include "mkmaster/node/parallel.h"

namespace {

struct Options {
  mknode::cli::NodeArgs args;
  std::string device;
};

mkcli::Registration reg{"bootdev", [](CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("bootdev", "select the next boot device of nodes via their BMC");
  sub->add_option("device", opt->device, "pxe or disk")->required()->check(CLI::IsMember({"pxe", "disk"}));
  mknode::cli::add_node_args(sub, opt->args);
  sub->callback([opt] {
    const auto inv = mknode::load_inventory(opt->args.inventory);
    const auto dev = opt->device == "pxe" ? mknode::BootDevice::Pxe : mknode::BootDevice::Disk;
    std::mutex out;
    const auto& nodes = opt->args.nodes;
    auto errors = mknode::for_each_bounded(nodes.size(), opt->args.parallel, [&](std::size_t i) {
      auto ctl = mknode::cli::make_control(inv, nodes[i], opt->args.verbose);
      ctl.bootdev(dev);
      std::lock_guard lock(out);
      fmt::print("{}: bootdev {}: ok\n", ctl.node().name, opt->device);
    });
    mknode::cli::report(nodes, errors);
  });
}};

}  // namespace
