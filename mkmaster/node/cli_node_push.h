#pragma once
// `mkmaster push IMAGE NODE… --inventory F` (the node pipeline) for the
// push subcommand to call: adds the options to a CLI11 app and runs
// run_node_push with a progress line per step on stderr, or JSON lines
// ({"node","step","event","seconds","message"}) on stdout with --json.
// Usage in cli_push.cpp:
//   auto np = std::make_shared<mknode::cli::NodePushCli>();
//   mknode::cli::add_node_push_options(sub, *np);   // --inventory, --parallel, ...
//   ... if (!np->inventory.empty()) return mknode::cli::run_node_push_cli(image, nodes, *np);
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "mkmaster/node/node_push.h"

namespace mknode::cli {

struct NodePushCli {
  std::string inventory;
  NodePushOptions options;
  bool json = false;
  int boot_timeout_s = 600;
  int login_timeout_s = 900;
};

void add_node_push_options(CLI::App* sub, NodePushCli& c);
// Throws mkcli::Exit{1} if any node failed (after printing each failure).
void run_node_push_cli(const std::string& image, const std::vector<std::string>& nodes, NodePushCli& c);

}  // namespace mknode::cli
