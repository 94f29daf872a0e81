#include "mkmaster/flash/node_run.h"

#include <fmt/core.h>

#include <exception>
#include <filesystem>

#include "base/interrupt.h"
#include "mkmaster/bmc/sol_console.h"
#include "mkmaster/flash/source_address.h"
#include "protocol/auth.h"

namespace flash {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

NodeAccess open_access(const lab::Node& node, const FlashOptions& opt, StepRunner& run) {
  AccessRequest req;
  req.transcript_path = (fs::path(opt.log_dir) / (node.name + ".console.log")).string();
  req.connect_timeout = opt.timeouts.console;
  req.log = [&run](const std::string& l) { run.log(l); };
  NodeAccess access = opt.access ? opt.access(node, req) : bmc_access(node, req);
  if (!access.power || !access.console) throw std::runtime_error("no power control or console for the node");
  return access;
}

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

}  // namespace

NodeRun::NodeRun(const lab::Node& node_, const FlashOptions& opt_, std::mutex& event_mu, NodeResult& result_)
    : node(node_),
      opt(opt_),
      result(result_),
      run(node_.name, opt_, event_mu, result_),
      access(open_access(node_, opt_, run)),
      secret(generate_secret()),
      target(opt_.push.target.empty() ? initrd::contract::kDefaultTarget : opt_.push.target) {
  for (const auto& s : access.secrets) run.add_secret(s);
  run.add_secret(secret);
}

void guarded(NodeRun& n, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const StepInterrupted& e) {
    const std::string state = clean_up_after_interrupt(*n.access.power, *n.access.console, n.run, n.reached);
    n.run.log(fmt::format("interrupted: {}", state));
    throw StepInterrupted(fmt::format("{}; {}", e.what(), state), e.signal);
  } catch (...) {
    // From power-on until the verified disk is selected the node must boot
    // PXE again whatever happens: a one-shot `bootdev pxe` (the seed's
    // template) is used up by the boot into the master image. After a
    // signal the interrupt clean-up does it instead.
    if (n.reached.pxe_armed && !n.reached.disk_selected && base::interrupt_signal() == 0) {
      try {
        n.access.power->bootdev(bmc::BootDevice::Pxe);
        n.run.log("boot device set to pxe again: the disk holds no verified image");
      } catch (const std::exception& e) {
        n.run.log(fmt::format("could not set the boot device back to pxe: {}", e.what()));
      }
    }
    throw;
  }
}

push::PushOptions node_push_options(NodeRun& n) {
  const FlashOptions& opt = n.opt;
  const lab::Node& node = n.node;
  StepRunner& run = n.run;
  push::PushOptions o = opt.push;
  o.target = n.target;
  o.agent.agent = fmt::format("{}:{}", node.agent_host, node.agent_port);
  o.agent.key = mkproto::derive_key(n.secret);
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

void boot_to_agent(NodeRun& n) {
  const lab::Node& node = n.node;
  const FlashOptions& opt = n.opt;
  StepRunner& run = n.run;
  Reached& reached = n.reached;
  const std::string& secret = n.secret;
  const std::string& target = n.target;
  bmc::PowerControl& power = *n.access.power;
  bmc::Console& con = *n.access.console;
  const NodeCommands& cmd = opt.on_node;
  const std::string secret_file = cmd.state_dir + "/agent.secret";

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
  reached.pxe_armed = true;
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
      // Only with the host's own address: alone, the peers' would lock the host out.
      for (const auto& peer : n.relay_peers) {
        if (is_numeric_address(peer))
          line += " --allow-from " + bmc::shell_quote(peer);
        else
          run.progress(fmt::format("{} is not a numeric address: its relay hop into this node will be refused", peer));
      }
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
}

void stream_alone(NodeRun& n) {
  n.run.step("stream-image", [&] {
    const auto push_image = n.opt.push_image ? n.opt.push_image : push::push_image;
    n.result.push = push_image(node_push_options(n));
    n.run.progress(fmt::format("{} bytes in {:.1f} s", n.result.push.image_size, n.result.push.seconds));
  });
}

void finish(NodeRun& n) {
  const FlashOptions& opt = n.opt;
  StepRunner& run = n.run;
  Reached& reached = n.reached;
  NodeResult& result = n.result;
  bmc::PowerControl& power = *n.access.power;
  bmc::Console& con = *n.access.console;
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
  if (opt.leave_off) {
    run.step("leave-off", [&] { power.power(bmc::PowerAction::Off); });
    run.after_last_step();
    con.close();  // the SOL session is free for whoever boots the node
    return;
  }
  run.step("power-reset", [&] {
    con.set_phase(bmc::Phase::Bootloader);
    power.power(bmc::PowerAction::Reset);
  });
  if (opt.wait_login) {
    run.step("wait-login", [&] {
      con.expect({n.access.login_prompt}, opt.timeouts.login, "a login prompt from the flashed system");
    });
  }
  run.after_last_step();
  con.close();
}

}  // namespace flash
