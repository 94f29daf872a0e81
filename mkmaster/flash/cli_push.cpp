// mkmaster push IMAGE: with --agent HOST:PORT --secret-file F, the direct
// data path to a running target-agent; with NODE… and --inventory, the
// whole flash pipeline (flash.h), whose stream-image step runs the same
// push with the same options.
#include <fmt/core.h>

#include "base/interrupt.h"
#include "base/json.h"
#include "mkmaster/cli/commands.h"
#include "mkmaster/cli/lab_inventory.h"
#include "mkmaster/flash/event_printer.h"
#include "mkmaster/flash/flash.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/push/cli_agent_options.h"
#include "mkmaster/push/progress.h"

namespace {

struct Args {
  push::PushOptions push;
  push::AgentOptions agent;
  std::string holes = "zero";
  std::string verify_overlap = "auto";
  bool json = false, lava = false, no_verify = false;
  // With NODE…:
  std::vector<std::string> nodes;
  std::string inventory;
  flash::FlashOptions flash;
  int boot_timeout_s = 600;
  int login_timeout_s = 900;
  double stall_timeout_s = 30;
};

void run_direct(Args& a) {
  if (a.agent.agent.empty() || a.agent.secret_file.empty())
    throw std::runtime_error(a.inventory.empty()
                                 ? "push: --agent HOST:PORT and --secret-file F are required (or NODE… with --inventory)"
                                 : "push: an inventory is given (--inventory or MKMASTER_INVENTORY) but no NODE to "
                                   "flash; with --agent, push to that agent");
  push::PushOptions o = a.push;
  o.agent = a.agent.address();
  push::ProgressPrinter printer(a.json);
  o.on_progress = [&](const push::Progress& p) { printer(p); };
  try {
    printer.summary(push::push_image(o));
  } catch (const std::exception& e) {
    printer.failure(e.what());
    throw;
  }
}

void run_nodes(Args& a) {
  if (a.inventory.empty())
    throw std::runtime_error(fmt::format("push: node names given ({}…) but no --inventory to find them in", a.nodes[0]));
  if (!a.agent.agent.empty() || !a.agent.secret_file.empty())
    throw std::runtime_error("push: --agent/--secret-file address one running agent; with NODE… the pipeline starts "
                             "each node's agent itself");
  const lab::Inventory inv = cli::load_lab_inventory(a.inventory);
  flash::FlashOptions o = a.flash;
  o.push = a.push;
  o.nodes = a.nodes;
  o.timeouts.boot = std::chrono::seconds(a.boot_timeout_s);
  o.timeouts.login = std::chrono::seconds(a.login_timeout_s);
  const auto style = a.lava ? flash::EventStyle::kLava : a.json ? flash::EventStyle::kJson : flash::EventStyle::kHuman;
  o.on_event = [style](const flash::NodeEvent& e) { flash::print_event(e, style); };
  // From here SIGINT/SIGTERM stop every node at its step and leave it in
  // the documented state (flash.h); a second one exits at once.
  base::install_interrupt_handlers();
  int failed = 0, signal = 0;
  for (const auto& r : flash::flash_nodes(inv, o)) {
    if (r.interrupted) signal = r.interrupted;
    flash::print_result(r, style);
    if (!r.ok) {
      ++failed;
      fmt::print(stderr, "mkmaster: error: {}\n", r.error);
    }
  }
  // 128 + the signal, as a shell reports a job the signal ended: 130 for
  // SIGINT, 143 for SIGTERM.
  if (signal) throw cli::Exit{128 + signal};
  if (failed) throw cli::Exit{1};
}

}  // namespace

void cli::add_push(CLI::App& app) {
  auto a = std::make_shared<Args>();
  push::PushOptions& p = a->push;
  auto* sub = app.add_subcommand("push", "stream a disk image to a running target-agent, or flash NODEs");
  sub->add_option("IMAGE", p.image, "raw image, .gz/.xz/.zst/.bz2, or http(s) URL")->required();
  sub->add_option("NODE", a->nodes, "nodes to flash through the full pipeline (needs --inventory)");
  a->agent.add_to(sub, /*required=*/false);
  sub->add_option("--target", p.target,
                  "device on the node (default: the agent's --target; with NODE…, " +
                      std::string(initrd::contract::kDefaultTarget) + ")");
  // The pipeline's disk option before both forms shared --target.
  sub->add_option("--node-target", p.target, "same as --target")->group("");
  sub->add_option("--bmap", p.bmap, "bmaptool .bmap of the image");
  sub->add_option("--holes", a->holes, "zero: holes read back as zeros (default); skip: ranges the --bmap leaves unmapped are don't-care "
                  "(as bmaptool: mapped blocks, zeros included, are written)")
      ->check(CLI::IsMember({"zero", "skip"}));
  sub->add_flag("--delta", p.delta,
                "send only the blocks that differ from what the target holds (the agent hashes its disk while the "
                "image streams)");
  sub->add_flag("--compress", p.compress, "zstd-compress data frames on the wire when it shrinks them");
  auto* no_verify = sub->add_flag("--no-verify", a->no_verify, "skip the read-back verification");
  sub->add_flag("--verify-all", p.verify_kept,
                "with --delta, also read back the blocks found unchanged (default: read back what this push wrote; "
                "unchanged blocks were compared with the target by hash)")
      ->excludes(no_verify);
  sub->add_option("--verify-overlap", a->verify_overlap,
                  "when the node reads back: auto (default) while the image streams, unless the target's disk is "
                  "rotational (then after the last byte: reading behind the writer costs seeks); always: while it "
                  "streams; never: after the last byte")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->excludes(no_verify);
  sub->add_option("--repair-attempts", p.repair_attempts,
                  "rounds of re-sending the blocks that read back wrong and reading them back again (0: fail at "
                  "the first mismatch)")
      ->capture_default_str()->check(CLI::Range(0, 100));
  sub->add_option("--retries", p.retries, "reconnects without progress before giving up")
      ->capture_default_str()->check(CLI::Range(0, 1000));
  sub->add_option("--stall-timeout", a->stall_timeout_s,
                  "fail when the agent shows no progress (takes no data, sends no ACK or reply) for this many seconds, "
                  "reconnects included")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 86400.0));
  auto* json = sub->add_flag("--json", a->json,
                "JSON lines on stdout: progress events and a summary (or, with NODEs, per-node step events and results)");
  auto* lava = sub->add_flag("--lava", a->lava,
                             "with NODEs: one plain line per step on stdout for a LAVA job log (node, step, pass/FAIL), "
                             "and a closing result line per node");
  lava->excludes(json);
  // The pipeline's own options.
  flash::FlashOptions& f = a->flash;
  sub->add_option("--inventory,-i", a->inventory, "lab inventory (docs/inventory.md): flash these nodes")
      ->envname("MKMASTER_INVENTORY");
  sub->add_option("--parallel,-j", f.parallel, "nodes flashed at once")
      ->capture_default_str()->check(CLI::Range(1, 256));
  sub->add_option("--log-dir", f.log_dir, "per-node logs and console transcripts")
      ->capture_default_str();
  auto* wait_login =
      sub->add_flag("--wait-login", f.wait_login, "after the reset, wait for a login prompt from the flashed system");
  sub->add_flag("--leave-off", f.leave_off,
                "power the flashed node off instead of resetting it (the disk stays the boot device): LAVA's boot "
                "action then connects the console and powers it on (docs/lava.md)")
      ->excludes(wait_login);
  sub->add_option("--boot-timeout", a->boot_timeout_s, "seconds from power-on to the initrd prompt")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->add_option("--login-timeout", a->login_timeout_s, "seconds from reset to the login prompt")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sub->callback([a] {
    a->push.holes = a->holes == "skip" ? mkproto::HolesMode::kSkip : mkproto::HolesMode::kZero;
    a->push.verify = !a->no_verify;
    a->push.verify_overlap = a->verify_overlap == "always" ? mkproto::VerifyOverlap::kAlways
                             : a->verify_overlap == "never" ? mkproto::VerifyOverlap::kAfterFinish
                                                            : mkproto::VerifyOverlap::kAuto;
    a->push.stall_timeout = std::chrono::milliseconds(static_cast<int64_t>(a->stall_timeout_s * 1000));
    // NODE… picks the pipeline, so a MKMASTER_INVENTORY in the environment
    // does not turn a direct push into one.
    if (a->nodes.empty())
      run_direct(*a);
    else
      run_nodes(*a);
  });
}
