// mkmaster labfiles --inventory F --out DIR: dnsmasq.conf, per-node pxelinux
// configs, LAVA-style device configs and LAVA v2 device dictionaries from
// one inventory.
#include <fmt/core.h>

#include <filesystem>

#include "base/read_file.h"
#include "mkmaster/cli/commands.h"
#include "mkmaster/cli/lab_inventory.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/lab/labfiles.h"
#include "mkmaster/lab/node_config.h"

namespace {

struct Options {
  std::string inventory;
  std::string out;
  std::string tftp;
  lab::LavaOptions lava;
};

// The initrd the build wrote, from its menu: per-node menus must name the
// same file, or those nodes fail their TFTP download after --compress.
std::string built_initrd(const Options& o, const lab::Inventory& inv) {
  namespace fs = std::filesystem;
  // Every board's initrd is written with the same compression: the first
  // node's board menu tells.
  const std::string board_menu = inv.nodes.empty() ? "default-arm-highbank" : inv.nodes.front().board.menu;
  const std::string rel = "master/pxelinux.cfg/" + board_menu;
  const fs::path menu = fs::path(o.tftp.empty() ? inv.tftp_root : o.tftp) / rel;
  const auto text = base::read_file(menu.string());
  if (!text) {
    if (!o.tftp.empty()) throw std::runtime_error(fmt::format("labfiles: --tftp {}: no {} (the tree `mkmaster build --out` writes)", o.tftp, rel));
    fmt::print(stderr, "labfiles: no {} yet: per-node menus name initrd.gz (the default of `mkmaster build`; pass --tftp "
               "DIR after a build with --compress)\n", menu.string());
    return "initrd.gz";
  }
  return lab::initrd_in_menu(*text, menu.string());
}

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
  sub->add_option("--tftp", opt->tftp,
                  "the TFTP tree `mkmaster build` wrote (its --out): per-node menus name the initrd its "
                  "board menu names (default: the inventory's tftp_root; initrd.gz if it has no menu)");
  sub->callback([opt] {
    const auto inv = cli::load_lab_inventory(opt->inventory);
    // Load each node's merged device config once so a broken highbank.conf
    // (bad interpolation) is reported now, not at the first power command.
    for (const auto& n : inv.nodes) {
      const auto cfg = lab::node_device_config(n);
      for (const auto& [key, _] : cfg.entries()) (void)cfg.get(key);
    }
    const std::string initrd = built_initrd(*opt, inv);
    const int files = lab::write_lab_files(inv, opt->out, initrd, opt->lava);
    fmt::print("wrote {} files for {} nodes to {} (initrd {})\n", files, inv.nodes.size(), opt->out, initrd);
  });
}
