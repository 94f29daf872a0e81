// mkmaster push IMAGE --agent HOST:PORT --secret-file F: the direct data
// path to a running target-agent. With NODE arguments and --inventory the
// node area's pipeline (power, PXE, console, agent start) runs instead and
// calls push::push_image for its data step.
#include <fmt/core.h>

#include "mkmaster/cli/command_registry.h"
#include "mkmaster/push/cli_agent_options.h"
#include "mkmaster/push/progress.h"
#include "mkmaster/push/push.h"
#ifdef MKMASTER_HAVE_NODE_PUSH
#include "mkmaster/node/cli_node_push.h"
#endif

namespace {

struct Args {
  std::string image, target, bmap, holes = "zero";
  std::vector<std::string> nodes;
  push::AgentOptions agent;
  bool delta = false, json = false, no_verify = false, verify_all = false, compress = false;
  int retries = 5;
#ifdef MKMASTER_HAVE_NODE_PUSH
  mknode::cli::NodePushCli node;
#endif
};

void run_direct(const Args& a, bool json) {
  if (a.agent.agent.empty() || a.agent.secret_file.empty())
    throw std::runtime_error("push: --agent HOST:PORT and --secret-file F are required (or NODE… with --inventory)");
  if (!a.nodes.empty())
    throw std::runtime_error(fmt::format("push: node names given ({}…) but no --inventory to find them in", a.nodes[0]));
  push::PushOptions o;
  o.image = a.image;
  o.agent = a.agent.address();
  o.target = a.target;
  o.bmap = a.bmap;
  o.holes = a.holes == "skip" ? mkproto::HolesMode::kSkip : mkproto::HolesMode::kZero;
  o.delta = a.delta;
  o.compress = a.compress;
  o.verify = !a.no_verify;
  o.verify_kept = a.verify_all;
  o.retries = a.retries;
  push::ProgressPrinter printer(json);
  o.on_progress = [&](const push::Progress& p) { printer(p); };
  try {
    printer.summary(push::push_image(o));
  } catch (const std::exception& e) {
    printer.failure(e.what());
    throw;
  }
}

mkcli::Registration reg{"push", [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("push", "stream a disk image to a running target-agent (or flash NODEs)");
  sub->add_option("IMAGE", a->image, "raw image, .gz/.xz/.zst/.bz2, or http(s) URL")->required();
  sub->add_option("NODE", a->nodes, "nodes to flash through the full pipeline (needs --inventory)");
  a->agent.add_to(sub, /*required=*/false);
  sub->add_option("--target", a->target, "device on the node (default: the agent's --target)");
  sub->add_option("--bmap", a->bmap, "bmaptool .bmap of the image");
  sub->add_option("--holes", a->holes, "zero: holes read back as zeros (default); skip: holes are don't-care")
      ->check(CLI::IsMember({"zero", "skip"}));
  sub->add_flag("--delta", a->delta,
                "send only the blocks that differ from what the target holds (the agent hashes its disk while the "
                "image streams)");
  sub->add_flag("--compress", a->compress, "zstd-compress data frames on the wire when it shrinks them");
  auto* no_verify = sub->add_flag("--no-verify", a->no_verify, "skip the read-back verification");
  sub->add_flag("--verify-all", a->verify_all,
                "with --delta, also read back the blocks found unchanged (default: read back what this push wrote; "
                "unchanged blocks were compared with the target by hash)")
      ->excludes(no_verify);
  sub->add_option("--retries", a->retries, "reconnects without progress before giving up")->check(CLI::Range(0, 1000));
#ifdef MKMASTER_HAVE_NODE_PUSH
  mknode::cli::add_node_push_options(sub, a->node);  // also adds --json
  sub->callback([a] {
    if (!a->node.inventory.empty()) {
      if (a->nodes.empty()) throw std::runtime_error("push: --inventory given but no NODE to flash");
      a->node.options.verify = !a->no_verify;
      a->node.options.stream_options = {a->bmap, a->holes == "skip", a->delta, a->compress, a->verify_all, a->retries};
      return mknode::cli::run_node_push_cli(a->image, a->nodes, a->node);
    }
    run_direct(*a, a->node.json);
  });
#else
  sub->add_flag("--json", a->json, "JSON line events on stdout instead of a progress bar");
  sub->callback([a] { run_direct(*a, a->json); });
#endif
}};

}  // namespace
