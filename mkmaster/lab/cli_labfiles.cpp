// mkmaster labfiles --inventory F --out DIR: dnsmasq.conf, per-node pxelinux
// configs and LAVA-style device configs from one inventory.
#include <fmt/core.h>

#include <filesystem>

#include "base/read_file.h"
#include "mkmaster/cli/commands.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/lab/labfiles.h"
#include "mkmaster/lab/node_config.h"

namespace {

struct Options {
  std::string inventory;
  std::string out;
  std::string tftp;
};

// The initrd the build wrote, from its menu: per-node menus must name the
// same file, or those nodes fail their TFTP download after --compress.
std::string built_initrd(const Options& o, const lab::Inventory& inv) {
  namespace fs = std::filesystem;
  const std::string rel = "master/pxelinux.cfg/default-arm-highbank";
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
  auto* sub = app.add_subcommand("labfiles", "generate dnsmasq.conf, pxelinux.cfg/01-<mac> and device configs from a lab inventory");
  sub->add_option("--inventory,-i", opt->inventory, "lab inventory file (docs/inventory.md)")->required();
  sub->add_option("--out,-o", opt->out, "output directory")->required();
  sub->add_option("--tftp", opt->tftp,
                  "the TFTP tree `mkmaster build` wrote (its --out): per-node menus name the initrd its "
                  "default-arm-highbank names (default: the inventory's tftp_root; initrd.gz if it has no menu)");
  sub->callback([opt] {
    const auto inv = lab::load_inventory(opt->inventory);
    // Load each node's merged device config once so a broken highbank.conf
    // (bad interpolation) is reported now, not at the first power command.
    for (const auto& n : inv.nodes) {
      const auto cfg = lab::node_device_config(n);
      for (const auto& [key, _] : cfg.entries()) (void)cfg.get(key);
    }
    const std::string initrd = built_initrd(*opt, inv);
    const int files = lab::write_lab_files(inv, opt->out, initrd);
    fmt::print("wrote {} files for {} nodes to {} (initrd {})\n", files, inv.nodes.size(), opt->out, initrd);
  });
}
