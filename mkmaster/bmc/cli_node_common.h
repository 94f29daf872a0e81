#pragma once
// Options shared by the node-control subcommands (power, bootdev, console):
// the inventory and how nodes on the command line become NodeControls.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <memory>
#include <string>
#include <vector>

#include "mkmaster/lab/inventory.h"
#include "mkmaster/bmc/ipmi.h"
#include "mkmaster/lab/node_config.h"

namespace bmc {

struct NodeArgs {
  std::string inventory;
  std::vector<std::string> nodes;
  bool verbose = false;
  int parallel = 8;
};

inline void add_node_args(CLI::App* sub, NodeArgs& a, bool many = true) {
  sub->add_option("--inventory,-i", a.inventory, "lab inventory (docs/inventory.md)")
      ->envname("MKMASTER_INVENTORY")
      ->required();
  if (many) {
    sub->add_option("nodes", a.nodes, "nodes: calxeda02-01, calxeda02-01-02 or 02-01")->required();
    sub->add_option("--parallel,-j", a.parallel, "nodes handled at once")->check(CLI::Range(1, 256));
  }
  sub->add_flag("--verbose,-v", a.verbose, "log each ipmitool command (passwords masked)");
}

inline NodeControl make_control(const lab::Inventory& inv, const std::string& name, bool verbose) {
  const lab::Node& node = inv.node(name);
  base::LogFn log;
  if (verbose) log = [n = node.name](const std::string& l) { fmt::print(stderr, "{}: {}\n", n, l); };
  return NodeControl(node, lab::node_device_config(node), lab::read_bmc_password(node), log);
}

// Prints each failure and ends with exit status 1 if any node failed.
inline void report(const std::vector<std::string>& nodes, const std::vector<std::string>& errors) {
  int failed = 0;
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (errors[i].empty()) continue;
    fmt::print(stderr, "mkmaster: error: {}\n", errors[i]);
    ++failed;
  }
  if (failed) {
    if (nodes.size() > 1) fmt::print(stderr, "mkmaster: {} of {} nodes failed\n", failed, nodes.size());
    throw cli::Exit{1};
  }
}

}  // namespace bmc
