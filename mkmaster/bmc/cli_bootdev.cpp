// mkmaster bootdev pxe|disk NODE…
#include <fmt/core.h>

#include <mutex>

#include "mkmaster/cli/commands.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/bmc/cli_node_common.h"
#include "base/parallel.h"

namespace {

struct Options {
  bmc::NodeArgs args;
  std::string device;
};

}  // namespace

void cli::add_bootdev(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("bootdev", "select the next boot device of nodes via their BMC");
  sub->add_option("device", opt->device, "pxe or disk")->required()->check(CLI::IsMember({"pxe", "disk"}));
  bmc::add_node_args(sub, opt->args);
  sub->callback([opt] {
    // A BMC command needs no board profile: a lab whose device types mkmaster
    // has no profile for can still power and watch its nodes.
    const auto inv = lab::load_inventory(opt->args.inventory);
    const auto dev = opt->device == "pxe" ? bmc::BootDevice::Pxe : bmc::BootDevice::Disk;
    std::mutex out;
    const auto& nodes = opt->args.nodes;
    auto errors = base::for_each_bounded(nodes.size(), opt->args.parallel, [&](std::size_t i) {
      auto ctl = bmc::make_control(inv, nodes[i], opt->args.verbose);
      ctl.bootdev(dev);
      std::lock_guard lock(out);
      fmt::print("{}: bootdev {}: ok\n", ctl.node().name, opt->device);
    });
    bmc::report(nodes, errors);
  });
}
