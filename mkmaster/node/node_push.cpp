#include "mkmaster/node/node_push.h"

#include <fmt/core.h>
#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>

#include "mkmaster/node/ipmi.h"
#include "mkmaster/node/node_config.h"
#include "mkmaster/node/node_console.h"
#include "mkmaster/node/parallel.h"
#include "mkmaster/node/sol_console.h"
#include "mkmaster/node/transcript.h"

namespace mknode {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
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

struct StepFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// One node's run: its log file, its event stream and the step bookkeeping.
class NodeRun {
 public:
  NodeRun(const Node& node, const NodePushOptions& opt, std::mutex& event_mu, NodePushResult& result)
      : node_(node), opt_(opt), event_mu_(event_mu), result_(result) {
    fs::create_directories(opt.log_dir);
    const mode_t old = ::umask(077);
    log_.open(fs::path(opt.log_dir) / (node.name + ".log"), std::ios::app);
    ::umask(old);
  }

  void log(const std::string& line) {
    std::lock_guard lock(log_mu_);
    log_ << iso_timestamp(std::chrono::system_clock::now()) << ' ' << mask_(line) << '\n';
    log_.flush();
  }

  void emit(const std::string& step, const std::string& event, double seconds, const std::string& message) {
    if (!opt_.on_event) return;
    std::lock_guard lock(event_mu_);
    opt_.on_event(NodeEvent{node_.name, step, event, seconds, mask_(message)});
  }

  // Runs one named step: timed, logged, and any failure re-thrown naming
  // node and step.
  template <typename F>
  void step(const std::string& name, F&& fn) {
    current_ = name;
    const auto start = Clock::now();
    log(fmt::format("step {}: start", name));
    emit(name, "start", 0, "");
    try {
      fn();
    } catch (const std::exception& e) {
      const double s = seconds_since(start);
      log(fmt::format("step {}: FAILED after {:.1f} s: {}", name, s, e.what()));
      emit(name, "failed", s, e.what());
      result_.failed_step = name;
      throw StepFailed(fmt::format("{}: step {} failed after {:.1f} s: {}", node_.name, name, s, mask_(e.what())));
    }
    const double s = seconds_since(start);
    result_.steps.push_back({name, s});
    log(fmt::format("step {}: done in {:.1f} s", name, s));
    emit(name, "done", s, "");
  }

  void progress(const std::string& text) {
    log(fmt::format("step {}: {}", current_, text));
    emit(current_, "progress", 0, text);
  }

  void add_secret(const std::string& s) { secrets_.push_back(s); }

 private:
  static double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
  std::string mask_(std::string text) const {
    for (const auto& s : secrets_)
      for (auto pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos)) text.replace(pos, s.size(), "****");
    return text;
  }

  const Node& node_;
  const NodePushOptions& opt_;
  std::mutex& event_mu_;
  NodePushResult& result_;
  std::mutex log_mu_;
  std::ofstream log_;
  std::string current_;
  std::vector<std::string> secrets_;
};

void flash_node(const Node& node, const NodePushOptions& opt, std::mutex& event_mu, NodePushResult& result) {
  NodeRun run(node, opt, event_mu, result);
  const std::string password = read_bmc_password(node);
  run.add_secret(password);
  NodeControl ctl(node, node_device_config(node), password, [&](const std::string& l) { run.log(l); });
  const auto& cfg = ctl.config();
  const std::string secret = generate_secret();
  run.add_secret(secret);

  auto con_opts = console_options(ctl, (fs::path(opt.log_dir) / (node.name + ".console.log")).string(),
                                  [&](const std::string& l) { run.log("console: " + l); });
  SolConsole con(con_opts);

  run.step("power-off", [&] { ctl.power(PowerAction::Off); });
  run.step("bootdev-pxe", [&] { ctl.bootdev(BootDevice::Pxe); });
  // Connected before power-on so the whole boot is in the transcript and
  // the prompt is not printed while nobody listens.
  run.step("console-connect", [&] {
    con.set_phase(Phase::Bootloader);
    con.connect(false);
  });
  run.step("power-on", [&] { ctl.power(PowerAction::On); });
  run.step("boot-master", [&] {
    con.wait_for_prompt(opt.timeouts.boot, opt.prompt_poke);
    con.set_phase(Phase::Shell);
  });
  run.step("configure-network", [&] {
    const int rc = con.run(opt.networking, opt.timeouts.network);
    if (rc != 0) throw std::runtime_error(fmt::format("`{}` exited {}", opt.networking, rc));
  });
  const std::string secret_file = opt.state_dir + "/agent.secret";
  run.step("send-secret", [&] {
    // `read -rs` keeps the tty from echoing the secret; it is also masked
    // in transcript and logs. Idempotent: after a reconnect the whole
    // exchange is repeated with a fresh marker; an empty read (the resync's
    // CR landing in a pending read) writes nothing and prints no marker.
    const auto deadline = Clock::now() + opt.timeouts.agent;
    for (int attempt = 1;; ++attempt) {
      try {
        con.send(fmt::format("umask 077; mkdir -p {0}; IFS= read -rs k && [ -n \"$k\" ] && printf '%s\\n' \"$k\" > "
                             "{1} && echo MK-SECRET-{2}-$((6*7)); k=\r",
                             opt.state_dir, secret_file, attempt));
        con.send_secret_line(secret);
        con.expect({fmt::format("MK-SECRET-{}-42\n", attempt)}, opt.timeouts.agent, "the secret to be stored");
        return;
      } catch (const ConsoleLost& e) {
        if (Clock::now() >= deadline) throw;
        con.reconnect(e.what());
      }
    }
  });
  run.step("start-agent", [&] {
    // stdin from /dev/null: a background job reading the console would
    // steal our keystrokes. The pid file lets anyone stop it later.
    const std::string cmd = fmt::format(
        "{0} --listen 0.0.0.0:{1} --secret-file {2} --target {3} </dev/null >{4}/agent.log 2>&1 & echo $! >{4}/agent.pid",
        opt.agent_command, node.agent_port, secret_file, opt.target, opt.state_dir);
    const int rc = con.run(cmd, opt.timeouts.agent);
    if (rc != 0) throw std::runtime_error(fmt::format("starting the agent exited {}", rc));
    // Wait on the node until the agent says it listens (or died), so the
    // stream step does not spend its reconnect budget on "connection
    // refused" while a slow node is still starting it.
    const std::string wait = fmt::format(
        "n=0; while ! grep -q 'listening on' {0}/agent.log 2>/dev/null && kill -0 $(cat {0}/agent.pid) 2>/dev/null"
        " && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done; grep -q 'listening on' {0}/agent.log || {{ cat {0}/agent.log; false; }}",
        opt.state_dir);
    if (con.run(wait, opt.timeouts.agent) != 0)
      throw std::runtime_error(fmt::format("the agent did not start listening (its log, {}/agent.log on the node, is in the console transcript)",
                                           opt.state_dir));
  });
  run.step("stream-image", [&] {
    StreamRequest req;
    req.node = node.name;
    req.image = opt.image;
    req.agent = fmt::format("{}:{}", node.agent_host, node.agent_port);
    req.secret = secret;
    req.target = opt.target;
    req.verify = opt.verify;
    req.options = opt.stream_options;
    req.io_timeout = opt.timeouts.stream;
    req.on_progress = [&](const std::string& p) { run.progress(p); };
    const StreamFn& stream = opt.stream ? opt.stream : StreamFn(push_with_agent);
    result.stream = stream(req);
    run.progress(fmt::format("{} bytes in {:.1f} s", result.stream.image_size, result.stream.seconds));
  });
  run.step("verify", [&] {
    if (!opt.verify) {
      run.progress("skipped (--no-verify)");
      return;
    }
    if (!result.stream.verified)
      throw std::runtime_error(fmt::format("the read-back digest was not confirmed: {}", result.stream.verify_message));
    run.progress(result.stream.verify_message);
  });
  run.step("bootdev-disk", [&] { ctl.bootdev(BootDevice::Disk); });
  run.step("power-reset", [&] {
    con.set_phase(Phase::Bootloader);
    ctl.power(PowerAction::Reset);
  });
  if (opt.wait_login) {
    run.step("wait-login", [&] {
      con.expect({cfg.get("login_prompt")}, opt.timeouts.login, "a login prompt from the flashed system");
    });
  }
  con.close();
}

}  // namespace

std::vector<NodePushResult> run_node_push(const Inventory& inv, const NodePushOptions& opt) {
  if (opt.nodes.empty()) throw std::runtime_error("no nodes given");
  std::vector<const Node*> nodes;
  for (const auto& name : opt.nodes) {
    const Node* n = &inv.node(name);
    for (const Node* m : nodes)
      if (m == n) throw std::runtime_error(fmt::format("node {} given twice", n->name));
    nodes.push_back(n);
  }
  std::vector<NodePushResult> results(nodes.size());
  std::mutex event_mu;
  const auto errors = for_each_bounded(nodes.size(), opt.parallel, [&](std::size_t i) {
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

}  // namespace mknode
