// mkmaster labfiles --inventory F --out DIR: dnsmasq.conf, per-node pxelinux
// configs and LAVA-style device configs from one inventory.
#include <fmt/core.h>

#include "mkmaster/cli/commands.h"
#include "mkmaster/cli/lab_inventory.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/lab/labfiles.h"
#include "mkmaster/lab/node_config.h"

namespace {

struct Options {
  std::string inventory;
  std::string out;
};

}  // namespace

void cli::add_labfiles(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("labfiles", "generate dnsmasq.conf, pxelinux.cfg/01-<mac> and device configs from a lab inventory");
  sub->add_option("--inventory,-i", opt->inventory, "lab inventory file (docs/inventory.md)")->required();
  sub->add_option("--out,-o", opt->out, "output directory")->required();
  sub->callback([opt] {
    const auto inv = cli::load_lab_inventory(opt->inventory);
    // Load each node's merged device config once so a broken highbank.conf
    // (bad interpolation) is reported now, not at the first power command.
    for (const auto& n : inv.nodes) {
      const auto cfg = lab::node_device_config(n);
      for (const auto& [key, _] : cfg.entries()) (void)cfg.get(key);
    }
    const int files = lab::write_lab_files(inv, opt->out);
    fmt::print("wrote {} files for {} nodes to {}\n", files, inv.nodes.size(), opt->out);
  });
}
