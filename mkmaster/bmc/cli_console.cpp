// mkmaster console NODE: an interactive session on the node's serial
// console (connection_command on a pty), with the same timestamped,
// password-masked transcript as the automated console. End it with
// ipmitool's escape "~." (or when the console command exits).
#include <fmt/core.h>
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>

#include "mkmaster/cli/commands.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/bmc/cli_node_common.h"
#include "mkmaster/bmc/command_template.h"
#include "mkmaster/bmc/pty_process.h"
#include "mkmaster/bmc/transcript.h"
#include "base/subprocess.h"

namespace {

struct Options {
  bmc::NodeArgs args;
  std::string node;
  std::string log_dir = "mkmaster-logs";
  bool take_over = false;
};

// SIGHUP (the controlling terminal went away: LAVA closing its connection),
// SIGTERM, SIGINT: end the session cleanly instead of dying with ipmitool's
// SOL payload still active on the BMC.
volatile std::sig_atomic_t g_stop = 0;
void on_stop_signal(int) { g_stop = 1; }
void catch_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: poll() returns EINTR and the loop ends
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) ::sigaction(sig, &sa, nullptr);
}

// Puts the user's terminal in raw mode for the session and restores it.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(0) || ::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

int relay(bmc::PtyProcess& proc, bmc::Transcript& transcript, bool is_ipmitool) {
  RawTerminal raw;
  char buf[4096];
  bool stdin_open = true;
  for (;;) {
    if (g_stop) {
      transcript.event("signal: ending the session");
      // ipmitool's own escape ends the SOL session and frees the payload.
      if (is_ipmitool && proc.write("\r~."))
        for (int i = 0; i < 20 && !proc.exited(); ++i) (void)proc.read(std::chrono::milliseconds(100));  // ≤ 2 s
      break;
    }
    pollfd p[2] = {{proc.fd(), POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (::poll(p, 2, 500) < 0) continue;
    if (p[0].revents) {
      auto chunk = proc.read(std::chrono::milliseconds(0));
      if (!chunk) break;
      transcript.received(*chunk);
      (void)!::write(1, chunk->data(), chunk->size());
    }
    if (p[1].revents) {
      const ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0) {
        stdin_open = false;
        continue;
      }
      transcript.sent(std::string_view(buf, static_cast<std::size_t>(n)));
      if (!proc.write(std::string_view(buf, static_cast<std::size_t>(n)))) break;
    }
    if (proc.exited()) break;
  }
  transcript.flush();
  return proc.terminate();
}

}  // namespace

void cli::add_console(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  auto* sub = app.add_subcommand("console", "interactive serial console of a node (connection_command), logged");
  sub->add_option("node", opt->node, "node: calxeda02-01, calxeda02-01-02 or 02-01")->required();
  sub->add_option("--log-dir", opt->log_dir, "where <node>.console.log is appended");
  sub->add_flag("--take-over", opt->take_over,
                "first end any SOL session already open on the node (sol_deactivate_cmd): for LAVA, which owns the "
                "node for its job");
  bmc::add_node_args(sub, opt->args, false);
  sub->callback([opt] {
    // A BMC command needs no board profile: a lab whose device types mkmaster
    // has no profile for can still power and watch its nodes.
    const auto inv = lab::load_inventory(opt->args.inventory);
    auto ctl = bmc::make_control(inv, opt->node, opt->args.verbose);
    const auto argv = ctl.command_argv("connection_command");
    std::filesystem::create_directories(opt->log_dir);
    const std::string path = (std::filesystem::path(opt->log_dir) / (ctl.node().name + ".console.log")).string();
    bmc::Transcript transcript(path);
    transcript.add_secret(ctl.password());
    const std::string shown = bmc::masked_command(argv, {ctl.password()});
    transcript.event("interactive console: " + shown);
    fmt::print(stderr, "mkmaster: {}: {} (transcript: {}; end with ~.)\r\n", ctl.node().name, shown, path);
    const base::EnvVars env = {{"IPMI_PASSWORD", ctl.password()}};
    if (opt->take_over) {
      const auto off = ctl.command_argv("sol_deactivate_cmd");
      const auto r = base::run_process(off, env, std::chrono::seconds(15));
      // Exit 1 "already de-activated" is the usual case: nothing to take over.
      transcript.event(fmt::format("take over: {}: exit {}", bmc::masked_command(off, {ctl.password()}), r.exit_code));
    }
    catch_stop_signals();
    bmc::PtyProcess proc(argv, env);
    const bool is_ipmitool = !argv.empty() && std::filesystem::path(argv[0]).filename() == "ipmitool";
    const int rc = relay(proc, transcript, is_ipmitool);
    transcript.event(fmt::format("console command exited {}", rc));
    if (rc != 0) throw cli::Exit{rc < 0 ? 1 : rc};
  });
}
