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
#include "mkmaster/flash/relay_adapter.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/push/cli_agent_options.h"
#include "mkmaster/push/agents_file.h"
#include "mkmaster/push/progress.h"
#include "mkmaster/push/relay_printer.h"

namespace {

struct Args {
  push::PushOptions push;
  // --agent/--secret-file, repeated and paired in order, or --agents FILE.
  std::vector<std::string> agents, secret_files;
  std::string agents_file;
  std::string fanout;  // "" = chain when several agents
  double relay_max_lag_mib = 512, hop_stall_s = 5;
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

std::vector<push::RelayNode> direct_agents(const Args& a) {
  if (!a.agents_file.empty()) {
    if (!a.agents.empty() || !a.secret_files.empty())
      throw std::runtime_error("push: --agents FILE lists the agents; do not add --agent/--secret-file");
    return push::load_agents_file(a.agents_file);
  }
  if (a.agents.size() != a.secret_files.size())
    throw std::runtime_error(fmt::format("push: {} --agent but {} --secret-file: give one secret file per agent, in "
                                         "the same order", a.agents.size(), a.secret_files.size()));
  std::vector<push::RelayNode> nodes;
  for (size_t i = 0; i < a.agents.size(); ++i) {
    if (std::string why = push::check_agent_address(a.agents[i]); !why.empty())
      throw std::runtime_error(fmt::format("push: --agent '{}' (agent {}): {}", a.agents[i], i + 1, why));
    push::RelayNode n;
    n.agent.agent = a.agents[i];
    n.agent.key = push::load_secret(a.secret_files[i]);
    nodes.push_back(std::move(n));
  }
  return nodes;
}

void run_relay(Args& a, std::vector<push::RelayNode> nodes) {
  push::RelayOptions o;
  o.push = a.push;
  o.nodes = std::move(nodes);
  o.fanout = a.fanout == "star" ? push::Fanout::kStar : push::Fanout::kChain;
  o.max_lag = static_cast<uint64_t>(a.relay_max_lag_mib * (1 << 20));
  o.hop_stall = std::chrono::milliseconds(static_cast<int64_t>(a.hop_stall_s * 1000));
  o.parallel = a.flash.parallel;
  push::RelayPrinter printer(a.json, o.nodes.size());
  o.on_progress = [&](size_t i, const push::Progress& p) { printer(i, p); };
  const push::RelayResult r = push::push_relay(o);
  printer.summary(r);
  for (const auto& n : r.nodes)
    if (!n.ok) fmt::print(stderr, "mkmaster: error: node {} ({}) failed at {}: {}\n", n.name, n.agent, n.step, n.error);
  if (int code = push::RelayPrinter::exit_status(r)) throw cli::Exit{code};
}

void run_direct(Args& a) {
  if (a.agents.empty() && a.agents_file.empty())
    throw std::runtime_error(a.inventory.empty()
                                 ? "push: --agent HOST:PORT and --secret-file F are required (or NODE… with --inventory)"
                                 : "push: an inventory is given (--inventory or MKMASTER_INVENTORY) but no NODE to "
                                   "flash; with --agent, push to that agent");
  std::vector<push::RelayNode> nodes = direct_agents(a);
  // Several agents, an agents file or an explicit fanout: the multi-node
  // report. One --agent alone: the single push, as it always was.
  if (nodes.size() > 1 || !a.agents_file.empty() || !a.fanout.empty()) return run_relay(a, std::move(nodes));
  push::PushOptions o = a.push;
  o.agent = nodes[0].agent;
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
  if (!a.agents.empty() || !a.secret_files.empty() || !a.agents_file.empty())
    throw std::runtime_error("push: --agent/--secret-file address one running agent; with NODE… the pipeline starts "
                             "each node's agent itself");
  const lab::Inventory inv = cli::load_lab_inventory(a.inventory);
  flash::FlashOptions o = a.flash;
  o.push = a.push;
  o.nodes = a.nodes;
  o.fanout = a.fanout == "star" ? push::Fanout::kStar : push::Fanout::kChain;
  o.push_relay = flash::relay_push_fn(push::push_relay);
  o.timeouts.boot = std::chrono::seconds(a.boot_timeout_s);
  o.timeouts.login = std::chrono::seconds(a.login_timeout_s);
  const auto style = a.lava ? flash::EventStyle::kLava : a.json ? flash::EventStyle::kJson : flash::EventStyle::kHuman;
  o.on_event = [style](const flash::NodeEvent& e) { flash::print_event(e, style); };
  // From here SIGINT/SIGTERM stop every node at its step and leave it in
  // the documented state (flash.h); a second one exits at once.
  base::install_interrupt_handlers();
  int failed = 0, signal = 0;
  const auto results = flash::flash_nodes(inv, o);
  for (const auto& r : results) {
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
  // As the direct push with several agents: 3 when the other nodes hold
  // the image, 1 when none does.
  if (failed) throw cli::Exit{failed < static_cast<int>(results.size()) ? push::kExitSomeNodesFailed : 1};
}

}  // namespace

void cli::add_push(CLI::App& app) {
  auto a = std::make_shared<Args>();
  push::PushOptions& p = a->push;
  auto* sub = app.add_subcommand("push", "stream a disk image to a running target-agent, or flash NODEs");
  sub->add_option("IMAGE", p.image, "raw image, .gz/.xz/.zst/.bz2, or http(s) URL")->required();
  sub->add_option("NODE", a->nodes, "nodes to flash through the full pipeline (needs --inventory)");
  sub->add_option("--agent", a->agents,
                  "a running target-agent's HOST:PORT; repeat for several (each with its --secret-file, in the same "
                  "order): the image then goes through a relay (--fanout)");
  sub->add_option("--secret-file", a->secret_files, "file holding that agent's session secret (one per --agent)");
  sub->add_option("--agents", a->agents_file,
                  "file of agents, one 'HOST:PORT SECRET-FILE' per line in chain order (# comments; relative secret "
                  "files from the file's directory)");
  sub->add_option("--fanout", a->fanout,
                  "with several agents or NODEs: chain (default: one copy leaves the host, each node forwards it to "
                  "the next; docs/protocol.md, Relay) or star (one push per node from this host, --parallel at once, "
                  "sharing its link). Exit status: 0 every node holds the image, 3 some "
                  "nodes failed (the others hold it), 1 none")
      ->check(CLI::IsMember({"chain", "star"}));
  sub->add_option("--relay-max-lag", a->relay_max_lag_mib,
                  "chain: cut out a node that trails the first one by more than this many MiB and does not keep up")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1e7));
  sub->add_option("--relay-hop-stall", a->hop_stall_s,
                  "chain: seconds a node may take nothing before its upstream stops waiting for it (it is caught up "
                  "from the upstream's disk later)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
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
  sub->add_option("--index", p.index,
                  "with --delta and an http(s) IMAGE: its image index (PATH or URL; default IMAGE.mkidx when the "
                  "server has it; none: read the whole image); only the changed blocks are fetched (docs/index.md)");
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
  sub->add_option("--parallel,-j", f.parallel, "nodes booted and finished at once (a chain streams to all together)")
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
