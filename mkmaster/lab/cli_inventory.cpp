// mkmaster inventory --json -i FILE: the inventory as mkmaster resolved it
// (defaults, inheritance from [machine]/[lab], normalised MACs, absolute
// paths), for tools that must agree with mkmaster on the lab, such as the
// emulated lab in tests/lab. Credentials appear only as references (the
// password file's path or the variable's name), never as passwords.
#include <fmt/core.h>

#include <string>

#include "mkmaster/cli/commands.h"
#include "mkmaster/cli/lab_inventory.h"
#include "mkmaster/lab/inventory.h"
#include "base/json.h"

namespace {

std::string str(const std::string& s) { return "\"" + base::json_escape(s) + "\""; }

std::string interface(const lab::Interface& i) {
  return fmt::format(R"({{"name": {}, "mac": {}, "ip": {}}})", str(i.name), str(i.mac), str(i.ip));
}

// What the emulated lab and LAVA need of the node's board profile.
std::string board(const lab::BoardProfile& b) {
  return fmt::format(
      R"({{"name": {}, "profile": {}, "qemu_machine": {}, "kernel_flavour": {}, "dtb": {}, "console": {}, )"
      R"("kernel_args": {}, "tftp_dir": {}, "menu": {}, "lava_device_type": {}}})",
      str(b.name), str(b.path), str(b.qemu_machine), str(b.kernel_flavour), str(b.dtb), str(b.console),
      str(b.kernel_args), str(b.tftp_dir), str(b.menu), str(b.lava_device_type));
}

std::string node(const lab::Node& n) {
  return fmt::format(
      "{{\"name\": {}, \"machine\": {}, \"number\": {}, \"eth0\": {}, \"eth1\": {}, \"control\": {},\n"
      "     \"bmc_host\": {}, \"bmc_port\": {}, \"bmc_user\": {}, \"password_file\": {}, \"password_env\": {},\n"
      "     \"device_type\": {}, \"agent_host\": {}, \"agent_port\": {},\n     \"board\": {}}}",
      str(n.name), str(n.machine), str(n.number), interface(n.eth0), interface(n.eth1), interface(n.control),
      str(n.bmc_host), n.bmc_port, str(n.bmc_user), str(n.password_file), str(n.password_env), str(n.device_type),
      str(n.agent_host), n.agent_port, board(n.board));
}

std::string inventory_json(const lab::Inventory& inv) {
  std::string machines, nodes;
  for (const auto& m : inv.machines) machines += (machines.empty() ? "" : ", ") + str(m);
  for (const auto& n : inv.nodes) nodes += (nodes.empty() ? "\n    " : ",\n    ") + node(n);
  return fmt::format(
      "{{\"path\": {}, \"name_prefix\": {}, \"tftp_root\": {}, \"network\": {}, \"device_types\": {}, \"boards\": {},\n"
      " \"machines\": [{}],\n \"nodes\": [{}]}}\n",
      str(inv.path), str(inv.name_prefix), str(inv.tftp_root), str(inv.network), str(inv.device_types_dir), str(inv.boards_dir), machines,
      nodes);
}

}  // namespace

void cli::add_inventory(CLI::App& app) {
  struct Options {
    std::string file;
    bool json = false;  // JSON is the only format; the flag says so where it is read
  };
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("inventory", "check a lab inventory and print it as mkmaster resolved it, as JSON");
  sub->add_option("--inventory,-i", opt->file, "lab inventory file (docs/inventory.md)")->required();
  sub->add_flag("--json", opt->json, "print JSON (the only format)");
  sub->callback([opt] { fmt::print("{}", inventory_json(cli::load_lab_inventory(opt->file))); });
}
