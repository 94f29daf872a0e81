#include "mkmaster/node/cli_node_push.h"

#include <fmt/core.h>

#include "mkmaster/cli/command_registry.h"
#include "mkmaster/node/inventory.h"

namespace mknode::cli {

namespace {
std::string json_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\')
      out += fmt::format("\\{}", static_cast<char>(c));
    else if (c < 0x20)
      out += fmt::format("\\u{:04x}", c);
    else
      out.push_back(static_cast<char>(c));
  }
  return out;
}
}  // namespace

void add_node_push_options(CLI::App* sub, NodePushCli& c) {
  auto& o = c.options;
  sub->add_option("--inventory,-i", c.inventory, "lab inventory (docs/inventory.md): flash these nodes")
      ->envname("MKMASTER_INVENTORY");
  sub->add_option("--parallel,-j", o.parallel, "nodes flashed at once")->check(CLI::Range(1, 256));
  sub->add_option("--log-dir", o.log_dir, "per-node logs and console transcripts");
  sub->add_flag("--wait-login", o.wait_login, "after the reset, wait for a login prompt from the flashed system");
  sub->add_option("--node-target", o.target, "the disk on the node");
  sub->add_option("--boot-timeout", c.boot_timeout_s, "seconds from power-on to the initrd prompt");
  sub->add_option("--login-timeout", c.login_timeout_s, "seconds from reset to the login prompt");
  sub->add_flag("--json", c.json, "JSON lines on stdout: progress events and a summary (or, with NODEs, per-node step events)");
}

void run_node_push_cli(const std::string& image, const std::vector<std::string>& nodes, NodePushCli& c) {
  const Inventory inv = load_inventory(c.inventory);
  NodePushOptions o = c.options;
  o.image = image;
  o.nodes = nodes;
  o.timeouts.boot = std::chrono::seconds(c.boot_timeout_s);
  o.timeouts.login = std::chrono::seconds(c.login_timeout_s);
  const bool json = c.json;
  o.on_event = [json](const NodeEvent& e) {
    if (json) {
      fmt::print("{{\"node\":\"{}\",\"step\":\"{}\",\"event\":\"{}\",\"seconds\":{:.3f},\"message\":\"{}\"}}\n",
                 json_escape(e.node), json_escape(e.step), e.event, e.seconds, json_escape(e.message));
      std::fflush(stdout);
    } else if (e.event == "done") {
      fmt::print(stderr, "{}: {} done in {:.1f} s\n", e.node, e.step, e.seconds);
    } else if (e.event == "failed") {
      fmt::print(stderr, "{}: {} FAILED after {:.1f} s\n", e.node, e.step, e.seconds);
    } else if (e.event == "progress") {
      fmt::print(stderr, "{}: {}: {}\n", e.node, e.step, e.message);
    } else {
      fmt::print(stderr, "{}: {} ...\n", e.node, e.step);
    }
  };
  const auto results = run_node_push(inv, o);
  int failed = 0;
  for (const auto& r : results) {
    if (r.ok) {
      double total = 0;
      for (const auto& s : r.steps) total += s.seconds;
      if (!json) fmt::print(stderr, "{}: flashed in {:.1f} s ({})\n", r.node, total, r.stream.verify_message);
    } else {
      ++failed;
      fmt::print(stderr, "mkmaster: error: {}\n", r.error);
    }
  }
  if (failed) throw mkcli::Exit{1};
}

}  // namespace mknode::cli
