// mkmaster labfiles --inventory F --out DIR: dnsmasq.conf, per-node pxelinux
// configs, LAVA-style device configs and LAVA v2 device dictionaries from
// one inventory.
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
  lab::LavaOptions lava;
};

}  // namespace

void cli::add_labfiles(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("labfiles", "generate dnsmasq.conf, pxelinux.cfg/01-<mac>, device configs and LAVA v2 device dictionaries from a lab inventory");
  sub->add_option("--inventory,-i", opt->inventory, "lab inventory file (docs/inventory.md)")->required();
  sub->add_option("--out,-o", opt->out, "output directory")->required();
  // Where things are on the LAVA worker (docs/lava.md).
  sub->add_option("--lava-mkmaster", opt->lava.mkmaster, "LAVA dictionaries: the mkmaster binary on the worker")
      ->capture_default_str();
  sub->add_option("--lava-inventory", opt->lava.inventory,
                  "LAVA dictionaries: the inventory's path on the worker (default: --inventory, absolute)");
  sub->add_option("--lava-log-dir", opt->lava.log_dir, "LAVA dictionaries: mkmaster's logs on the worker")
      ->capture_default_str();
  sub->callback([opt] {
    const auto inv = cli::load_lab_inventory(opt->inventory);
    // Load each node's merged device config once so a broken highbank.conf
    // (bad interpolation) is reported now, not at the first power command.
    for (const auto& n : inv.nodes) {
      const auto cfg = lab::node_device_config(n);
      for (const auto& [key, _] : cfg.entries()) (void)cfg.get(key);
    }
    const int files = lab::write_lab_files(inv, opt->out, opt->lava);
    fmt::print("wrote {} files for {} nodes to {}\n", files, inv.nodes.size(), opt->out);
  });
}
