// mkmaster push IMAGE --agent HOST:PORT --secret-file F: the direct data
// path to a running target-agent (the IPMI/SOL-driven flow is mkmaster/node).
#include <fmt/core.h>

#include "mkmaster/cli/command_registry.h"
#include "mkmaster/push/cli_agent_options.h"
#include "mkmaster/push/progress.h"
#include "mkmaster/push/push.h"

namespace {

struct Args {
  std::string image, target, bmap, holes = "zero";
  push::AgentOptions agent;
  bool delta = false, json = false, no_verify = false, compress = false;
  int retries = 5;
};

mkcli::Registration reg{"push", [](CLI::App& app) {
  auto a = std::make_shared<Args>();
  auto* sub = app.add_subcommand("push", "stream a disk image to a running target-agent");
  // With NODE arguments the node area's pipeline handles this command; this
  // is the direct form.
  sub->add_option("IMAGE", a->image, "raw image, .gz/.xz/.zst/.bz2, or http(s) URL")->required();
  a->agent.add_to(sub);
  sub->add_option("--target", a->target, "device on the node (default: the agent's --target)");
  sub->add_option("--bmap", a->bmap, "bmaptool .bmap of the image");
  sub->add_option("--holes", a->holes, "zero: holes read back as zeros (default); skip: holes are don't-care")
      ->check(CLI::IsMember({"zero", "skip"}));
  sub->add_flag("--delta", a->delta, "hash the target first and send only blocks that differ");
  sub->add_flag("--compress", a->compress, "zstd-compress data frames on the wire when it shrinks them");
  sub->add_flag("--json", a->json, "JSON line events on stdout instead of a progress bar");
  sub->add_flag("--no-verify", a->no_verify, "skip the read-back verification");
  sub->add_option("--retries", a->retries, "reconnects without progress before giving up")->check(CLI::Range(0, 1000));
  sub->callback([a] {
    push::PushOptions o;
    o.image = a->image;
    o.agent = a->agent.address();
    o.target = a->target;
    o.bmap = a->bmap;
    o.holes = a->holes == "skip" ? mkproto::HolesMode::kSkip : mkproto::HolesMode::kZero;
    o.delta = a->delta;
    o.compress = a->compress;
    o.verify = !a->no_verify;
    o.retries = a->retries;
    push::ProgressPrinter printer(a->json);
    o.on_progress = [&](const push::Progress& p) { printer(p); };
    try {
      printer.summary(push::push_image(o));
    } catch (const std::exception& e) {
      printer.failure(e.what());
      throw;
    }
  });
}};

}  // namespace
