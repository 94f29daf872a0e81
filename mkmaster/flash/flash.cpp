#include "mkmaster/flash/flash.h"
#include "mkmaster/flash/source_address.h"

#include <fmt/core.h>
#include <sodium.h>

#include <exception>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include "base/interrupt.h"
#include "base/parallel.h"
#include "mkmaster/bmc/sol_console.h"
#include "mkmaster/flash/step_runner.h"
#include "protocol/auth.h"

namespace flash {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string generate_secret() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot initialise");
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[sizeof raw * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  sodium_memzero(raw, sizeof raw);
  return hex;
}

namespace {

// The node's stream-image options: the user's, aimed at this node's agent.
push::PushOptions node_push_options(const FlashOptions& opt, const lab::Node& node, const std::string& secret,
                                    const std::string& target, StepRunner& run) {
  push::PushOptions o = opt.push;
  o.target = target;
  o.agent.agent = fmt::format("{}:{}", node.agent_host, node.agent_port);
  o.agent.key = mkproto::derive_key(secret);
  o.revoke_at_end = true;  // the one-time secret is spent with this push
  // push_image reports often; the node log and --json get one line a second.
  auto last = std::make_shared<Clock::time_point>(Clock::now() - std::chrono::seconds(1));
  o.on_progress = [&run, last](const push::Progress& p) {
    // The push reports at least every 200 ms while data flows: a signal
    // stops it here (base::Interrupted is no std::exception, so the push's
    // reconnect logic lets it through).
    base::check_interrupt();
    const auto now = Clock::now();
    if (p.kind == push::Progress::Kind::kProgress && now - *last < std::chrono::seconds(1)) return;
    *last = now;
    if (p.kind == push::Progress::Kind::kReconnect)
      run.progress(fmt::format("reconnect: {}", p.message));
    else if (p.kind == push::Progress::Kind::kVerify)  // the read-back, or a repair round naming its ranges
      run.progress(p.message.rfind("repair", 0) == 0 ? p.message : "verifying");
    else if (p.kind == push::Progress::Kind::kProgress && p.image_size)
      run.progress(fmt::format("{}/{} bytes ({:.0f}%)", p.position, p.image_size, 100.0 * p.position / p.image_size));
  };
  return o;
}

// From power-on until the verified disk is selected the node must boot PXE
// again whatever happens: a one-shot `bootdev pxe` (the seed's template) is
// used up by the boot into the master image, so a failure in between sets
// it again. Best effort: the failure itself is what the user must see.
class KeepPxeOnFailure {
 public:
  KeepPxeOnFailure(bmc::PowerControl& power, StepRunner& run) : power_(power), run_(run) {}
  ~KeepPxeOnFailure() {
    // After a signal the interrupt cleanup sets PXE and powers off.
    if (!armed_ || std::uncaught_exceptions() == 0 || base::interrupt_signal() != 0) return;
    try {
      power_.bootdev(bmc::BootDevice::Pxe);
      run_.log("boot device set to pxe again: the disk holds no verified image");
    } catch (const std::exception& e) {
      run_.log(fmt::format("could not set the boot device back to pxe: {}", e.what()));
    }
  }
  KeepPxeOnFailure(const KeepPxeOnFailure&) = delete;
  KeepPxeOnFailure& operator=(const KeepPxeOnFailure&) = delete;
  void disarm() { armed_ = false; }

 private:
  bmc::PowerControl& power_;
  StepRunner& run_;
  bool armed_ = true;
};

// How far a node got, for the cleanup after an interrupt.
struct Reached {
  bool touched = false;        // its first step began: the BMC may have acted
  bool disk_selected = false;  // bootdev-disk done: the disk holds the verified image
};

// The defined state after SIGINT/SIGTERM (docs/lab.md "Interrupting a
// push"), each action bounded: the console ends its SOL session; unless the
// verified disk is selected, the boot device goes back to PXE (persistent)
// and the node is powered off, which stops the agent, drops its secret
// with the RAM and keeps the partly written disk from ever booting.
std::string clean_up_after_interrupt(bmc::PowerControl& power, bmc::Console& con, StepRunner& run, const Reached& r) {
  if (!r.touched) return "the node was not touched";
  power.limit_for_cleanup(std::chrono::seconds(10));
  std::string state;
  state += run.cleanup("console-close", [&] { con.close(); }) ? "SOL session closed" : "SOL session close FAILED";
  if (r.disk_selected) return state + "; the verified image was already selected to boot";
  state += run.cleanup("bootdev-pxe", [&] { power.bootdev(bmc::BootDevice::Pxe); }) ? ", boot device pxe"
                                                                                       : ", boot device pxe FAILED";
  state += run.cleanup("power-off", [&] { power.power(bmc::PowerAction::Off); })
               ? ", powered off (agent stopped; the partial disk will not boot)"
               : ", power off FAILED (the agent may still run)";
  return state;
}

void run_steps(const lab::Node& node, const FlashOptions& opt, StepRunner& run, NodeAccess& access,
               const std::string& secret, Reached& reached, NodeResult& result);

void flash_node(const lab::Node& node, const FlashOptions& opt, std::mutex& event_mu, NodeResult& result) {
  StepRunner run(node.name, opt, event_mu, result);
  AccessRequest req;
  req.transcript_path = (fs::path(opt.log_dir) / (node.name + ".console.log")).string();
  req.connect_timeout = opt.timeouts.console;
  req.log = [&run](const std::string& l) { run.log(l); };
  NodeAccess access = opt.access ? opt.access(node, req) : bmc_access(node, req);
  if (!access.power || !access.console) throw std::runtime_error("no power control or console for the node");
  for (const auto& s : access.secrets) run.add_secret(s);
  const std::string secret = generate_secret();
  run.add_secret(secret);
  Reached reached;
  try {
    run_steps(node, opt, run, access, secret, reached, result);
  } catch (const StepInterrupted& e) {
    const std::string state = clean_up_after_interrupt(*access.power, *access.console, run, reached);
    run.log(fmt::format("interrupted: {}", state));
    throw StepInterrupted(fmt::format("{}; {}", e.what(), state), e.signal);
  }
}

void run_steps(const lab::Node& node, const FlashOptions& opt, StepRunner& run, NodeAccess& access,
               const std::string& secret, Reached& reached, NodeResult& result) {
  bmc::PowerControl& power = *access.power;
  bmc::Console& con = *access.console;
  const NodeCommands& cmd = opt.on_node;
  const std::string secret_file = cmd.state_dir + "/agent.secret";
  const std::string target = opt.push.target.empty() ? initrd::contract::kDefaultTarget : opt.push.target;

  // A missing file or a bad URL fails here, with the node as it was.
  run.step("check-image", [&] {
    const auto check = opt.check_image ? opt.check_image : push::check_image;
    run.progress(check(opt.push));
  });
  run.step("power-off", [&] {
    reached.touched = true;
    power.power(bmc::PowerAction::Off);
  });
  run.step("bootdev-pxe", [&] { power.bootdev(bmc::BootDevice::Pxe); });
  // Connected before power-on so the whole boot is in the transcript and
  // the prompt is not printed while nobody listens.
  run.step("console-connect", [&] {
    con.set_phase(bmc::Phase::Bootloader);
    con.connect(false);
  });
  KeepPxeOnFailure keep_pxe(power, run);
  run.step("power-on", [&] { power.power(bmc::PowerAction::On); });
  run.step("boot-master", [&] {
    con.wait_for_prompt(opt.timeouts.boot, opt.prompt_poke);
    con.set_phase(bmc::Phase::Shell);
  });
  run.step("configure-network", [&] {
    const int rc = con.run(cmd.networking, opt.timeouts.network);
    if (rc != 0) throw std::runtime_error(fmt::format("`{}` exited {}", cmd.networking, rc));
  });
  run.step("send-secret", [&] {
    // The secret is typed only once the node said it is ready: the line
    // turns the tty's echo off (stty -echo, and read -s) and then prints
    // MK-READY, so no echo of the secret can come back even if the tty is
    // slow to apply it (typed right after the command line, 1 run in 12
    // echoed it). It is also masked in transcript and logs. Idempotent:
    // after a reconnect the whole exchange is repeated with a fresh
    // marker; an empty read (the resync's CR landing in a pending read)
    // writes nothing and prints no marker. Echo is restored either way.
    const auto deadline = Clock::now() + opt.timeouts.agent;
    for (int attempt = 1;; ++attempt) {
      try {
        con.send(fmt::format("stty -echo; umask 077; mkdir -p {0}; echo MK-READY-{2}-$((6*7)); IFS= read -rs k && "
                             "[ -n \"$k\" ] && printf '%s\\n' \"$k\" > {1} && echo MK-SECRET-{2}-$((6*7)); k=; "
                             "stty echo\r",
                             bmc::shell_quote(cmd.state_dir), bmc::shell_quote(secret_file), attempt));
        con.expect({fmt::format("MK-READY-{}-42\n", attempt)}, opt.timeouts.agent, "the node to wait for the secret");
        con.send_secret_line(secret);
        con.expect({fmt::format("MK-SECRET-{}-42\n", attempt)}, opt.timeouts.agent, "the secret to be stored");
        return;
      } catch (const bmc::ConsoleLost& e) {
        if (Clock::now() >= deadline) throw;
        con.reconnect(e.what());
      }
    }
  });
  run.step("start-agent", [&] {
    std::string line = fmt::format("{} {} {} {} {}", cmd.start_agent, node.agent_port, bmc::shell_quote(secret_file),
                                   bmc::shell_quote(target), bmc::shell_quote(cmd.state_dir));
    for (const auto& a : cmd.agent_options) line += " " + bmc::shell_quote(a);
    // The secret then lives only in the agent's memory (until the push's
    // BYE revokes it), and only this host may connect (docs/inventory.md,
    // start-agent). --allow-from is best effort: without a route now, the
    // stream step reports the real problem.
    line += " --remove-secret-file";
    try {
      line += " --allow-from " + bmc::shell_quote(source_address_toward(node.agent_host, node.agent_port));
    } catch (const std::exception& e) {
      run.progress(fmt::format("the agent accepts any peer: {}", e.what()));
    }
    const int rc = con.run(line, opt.timeouts.agent);
    if (rc == 127)
      throw std::runtime_error(fmt::format("{} is not in the node's image: boot a master image built by this mkmaster",
                                           cmd.start_agent));
    if (rc != 0)
      throw std::runtime_error(fmt::format(
          "the agent did not start listening ({} exited {}; its log, {}/agent.log on the node, is in the console "
          "transcript)",
          cmd.start_agent, rc, cmd.state_dir));
  });
  run.step("stream-image", [&] {
    const auto push_image = opt.push_image ? opt.push_image : push::push_image;
    result.push = push_image(node_push_options(opt, node, secret, target, run));
    run.progress(fmt::format("{} bytes in {:.1f} s", result.push.image_size, result.push.seconds));
  });
  run.step("verify", [&] {
    if (!opt.push.verify) {
      run.progress("skipped (--no-verify)");
      return;
    }
    if (!result.push.verified)
      throw std::runtime_error(fmt::format("the read-back digest was not confirmed: {}; the node stays on PXE boot",
                                           result.push.verify_message));
    run.progress(result.push.verify_message);
  });
  // Only now: the disk holds the image, read back and compared.
  run.step("bootdev-disk", [&] {
    power.bootdev(bmc::BootDevice::Disk);
    reached.disk_selected = true;
  });
  keep_pxe.disarm();
  if (opt.leave_off) {
    run.step("leave-off", [&] { power.power(bmc::PowerAction::Off); });
    con.close();  // the SOL session is free for whoever boots the node
    return;
  }
  run.step("power-reset", [&] {
    con.set_phase(bmc::Phase::Bootloader);
    power.power(bmc::PowerAction::Reset);
  });
  if (opt.wait_login) {
    run.step("wait-login", [&] {
      con.expect({access.login_prompt}, opt.timeouts.login, "a login prompt from the flashed system");
    });
  }
  con.close();
}

}  // namespace

std::vector<NodeResult> flash_nodes(const lab::Inventory& inv, const FlashOptions& opt) {
  if (opt.nodes.empty()) throw std::runtime_error("no nodes given");
  if (opt.leave_off && opt.wait_login)
    throw std::runtime_error("--leave-off powers the flashed node off: there is no login prompt to wait for");
  std::vector<const lab::Node*> nodes;
  for (const auto& name : opt.nodes) {
    const lab::Node* n = &inv.node(name);
    for (const lab::Node* m : nodes)
      if (m == n) throw std::runtime_error(fmt::format("node {} given twice", n->name));
    nodes.push_back(n);
  }
  std::vector<NodeResult> results(nodes.size());
  std::mutex event_mu;
  const auto errors = base::for_each_bounded(nodes.size(), opt.parallel, [&](std::size_t i) {
    results[i].node = nodes[i]->name;
    flash_node(*nodes[i], opt, event_mu, results[i]);
    results[i].ok = true;
  });
  for (std::size_t i = 0; i < errors.size(); ++i) {
    if (errors[i].empty()) continue;
    results[i].ok = false;
    results[i].error = errors[i];
    if (results[i].failed_step.empty()) results[i].failed_step = "setup";
    // A failure before the first step (password, config) still names the node.
    if (results[i].error.rfind(results[i].node + ":", 0) != 0)
      results[i].error = fmt::format("{}: setup failed: {}", results[i].node, errors[i]);
  }
  return results;
}

}  // namespace flash
