// The node pipeline end to end on loopback: real ipmitool + ipmi_sim (power,
// bootdev), SOL to a busybox shell standing in for the initrd, the real
// native target-agent started over that console with the one-time secret,
// and push_image streaming into a file. Bounded: ~40 s.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "base/interrupt.h"
#include "bmc_sim.h"
#include "testing/files.h"
#include "testing/temp_dir.h"
#include "mkmaster/bmc/ipmi.h"
#include "mkmaster/bmc/node_console.h"
#include "mkmaster/bmc/sol_console.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/lab/node_config.h"
#include "mkmaster/flash/flash.h"
#include "mkmaster/flash/relay_adapter.h"
#include "mkmaster/push/relay_push.h"

namespace flash {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class NodePush : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "node");
    console_ = std::make_unique<bmc::test::FakeConsole>((dir_ / "node").string());
    bmc_ = std::make_unique<bmc::test::BmcSim>(dir_.string(), "admin", "pw-0123456789", console_->port());
    ASSERT_TRUE(console_->wait_connected(15s));
    fs::create_directories(dir_ / "types");
    std::ofstream(dir_ / "types/simbank.conf")
        << "client_type = highbank\n"
           "connection_command = ipmitool -I lanplus -C 3 -p %(bmc_port)s -U %(bmc_user)s -E -H %(ecmeip)s sol activate\n"
           "bootloader_serial_delay_ms = 20\n"
           "test_shell_serial_delay_ms = 2\n";
    agent_port_ = bmc::test::free_port(SOCK_STREAM);
    std::ofstream(dir_ / "lab.ini") << "[lab]\ndevice_types = types\n"
                                       "[machine 01]\ndevice_type = simbank\nbmc_user = admin\npassword_env = MKNODE_TEST_PW\n"
                                       "[node 01-01]\neth0_mac = 52:54:00:12:34:56\neth0_ip = 10.0.2.15\n"
                                       "bmc = 127.0.0.1\nbmc_port = " << bmc_->port() << "\nagent_host = 127.0.0.1\n"
                                       "agent_port = " << agent_port_ << "\n";
    ::setenv("MKNODE_TEST_PW", "pw-0123456789", 1);
    // A 3 MiB image with data, a hole and a tail.
    std::string image(3 << 20, '\0');
    std::mt19937 rng(42);
    for (std::size_t i = 0; i < (1u << 20); ++i) image[i] = static_cast<char>(rng());
    for (std::size_t i = (2u << 20); i < image.size(); ++i) image[i] = static_cast<char>(rng());
    std::ofstream(dir_ / "image.raw", std::ios::binary) << image;
    std::ofstream(dir_ / "node/disk.img", std::ios::binary) << std::string(4 << 20, 'x');
  }
  void TearDown() override {
    // The agent was started by the "node" shell: stop it by its pid file.
    const std::string pid = mktest::slurp(dir_ / "node/state/agent.pid");
    if (!pid.empty()) ::kill(std::stoi(pid), SIGKILL);
    bmc_.reset();
    console_.reset();
  }

  FlashOptions options() {
    FlashOptions o;
    o.push.image = (dir_ / "image.raw").string();
    o.nodes = {"calxeda01-01"};
    o.log_dir = (dir_ / "logs").string();
    // Relative to the "node" shell's directory: every node has its own.
    o.push.target = "disk.img";
    o.on_node.networking = "echo configuring eth0";  // the host shell has no /scripts/functions
    // The image's own start script, running the native agent.
    // busybox sh: the image's shell is busybox ash, not the host's sh.
    // The secret file is gone once the agent read it (--remove-secret-file):
    // a copy taken just before lets the test look for the secret in logs.
    o.on_node.start_agent = "cp state/agent.secret state/secret.seen && MKMASTER_AGENT=" +
                            bmc::shell_quote(TARGET_AGENT_BIN) + " busybox sh " + bmc::shell_quote(START_AGENT_SCRIPT);
    o.on_node.agent_options = {"--allow-file"};
    o.on_node.state_dir = "state";
    o.prompt_poke = 2s;
    o.timeouts.boot = 30s;
    o.timeouts.network = 30s;
    o.timeouts.agent = 30s;
    o.push.stall_timeout = 60s;
    o.on_event = [this](const NodeEvent& e) { events_.push_back(e); };
    return o;
  }

  // Declared first, so it outlives the BMC and the console working in it.
  mktest::TempDir tmp_{"mknode-push"};
  fs::path dir_ = tmp_.path();
  int agent_port_ = 0;
  std::unique_ptr<bmc::test::FakeConsole> console_;
  std::unique_ptr<bmc::test::BmcSim> bmc_;
  std::vector<NodeEvent> events_;
};

TEST_F(NodePush, FlashesFromPowerOffToDiskBoot) {
  const auto inv = lab::load_inventory((dir_ / "lab.ini").string());
  const auto results = flash_nodes(inv, options());
  ASSERT_EQ(results.size(), 1u);
  const auto& r = results[0];
  ASSERT_TRUE(r.ok) << r.error << "\n" << mktest::slurp(dir_ / "logs/calxeda01-01.log");
  std::vector<std::string> steps;
  for (const auto& s : r.steps) steps.push_back(s.step);
  EXPECT_EQ(steps, (std::vector<std::string>{"check-image", "power-off", "bootdev-pxe", "console-connect", "power-on",
                                             "boot-master", "configure-network", "send-secret", "start-agent",
                                             "stream-image", "verify", "bootdev-disk", "power-reset"}));
  EXPECT_EQ(bmc_->actions(),
            (std::vector<std::string>{"power 0", "boot pxe", "power 1", "boot default", "reset 1"}));
  // The image landed on the "disk" (the tail beyond the image is untouched).
  const std::string disk = mktest::slurp(dir_ / "node/disk.img");
  const std::string image = mktest::slurp(dir_ / "image.raw");
  ASSERT_GE(disk.size(), image.size());
  EXPECT_TRUE(disk.compare(0, image.size(), image) == 0);
  EXPECT_TRUE(r.push.verified) << r.push.verify_message;
  // The secret reached the node (0600) but no host log or transcript.
  const std::string secret = mktest::slurp(dir_ / "node/state/secret.seen");
  ASSERT_EQ(secret.size(), 65u);
  EXPECT_EQ(fs::status(dir_ / "node/state/secret.seen").permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  EXPECT_FALSE(fs::exists(dir_ / "node/state/agent.secret")) << "the agent left its secret file on the node";
  const std::string key = secret.substr(0, 64);
  for (const auto& f : fs::directory_iterator(dir_ / "logs")) {
    const std::string text = mktest::slurp(f.path());
    EXPECT_EQ(text.find(key), std::string::npos) << f.path();
    EXPECT_EQ(text.find("pw-0123456789"), std::string::npos) << f.path();
  }
  for (const auto& e : events_) EXPECT_EQ(e.message.find(key), std::string::npos);
  // Events: a start and a done per step, in order.
  std::vector<std::string> done;
  for (const auto& e : events_)
    if (e.event == "done") done.push_back(e.step);
  EXPECT_EQ(done, steps);
}

// This process's children (pid → state and command line), zombies included: what a
// pipeline run leaves behind shows up here.
std::map<pid_t, std::string> children() {
  std::map<pid_t, std::string> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = mktest::slurp(e.path() / "stat");
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream rest(stat.substr(paren + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid != ::getpid()) continue;
    std::string cmd = mktest::slurp(e.path() / "cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    out[std::stoi(name)] = state + " " + cmd;
  }
  return out;
}

// SIGINT at the start of every step, and once mid-stream, with the real
// ipmitool and ipmi_sim: each run stops in that step (or, for a BMC command
// that runs to its end, the next), says so, leaves no child process, leaves
// the SOL payload free (a new `sol activate` succeeds at its first attempt,
// with no deactivate) and, unless the verified disk was already selected,
// the node on PXE and powered off, so its partial disk never boots.
TEST_F(NodePush, ASignalAtAnyStepLeavesTheLabInTheDefinedState) {
  const std::vector<std::string> steps = {"check-image", "power-off",    "bootdev-pxe",       "console-connect",
                                          "power-on",    "boot-master",  "configure-network", "send-secret",
                                          "start-agent", "stream-image", "verify",            "bootdev-disk",
                                          "power-reset"};
  // Big enough that the stream reports progress before it ends.
  {
    std::string image(48 << 20, '\0');
    std::mt19937 rng(7);
    for (auto& c : image) c = static_cast<char>(rng());
    std::ofstream(dir_ / "image.raw", std::ios::binary) << image;
  }
  const auto inv = lab::load_inventory((dir_ / "lab.ini").string());
  base::install_interrupt_handlers();
  struct Case {
    std::string step, event;
  };
  std::vector<Case> cases;
  for (const auto& s : steps) cases.push_back({s, "start"});
  cases.push_back({"stream-image", "progress"});
  const auto before = children();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.step + " " + c.event);
    const std::string pid = mktest::slurp(dir_ / "node/state/agent.pid");
    if (!pid.empty()) ::kill(std::stoi(pid), SIGKILL);  // the last run's agent: a real node lost it with its power
    fs::remove(dir_ / "node/state/agent.pid");
    std::ofstream(dir_ / "node/disk.img", std::ios::binary) << std::string(64 << 20, 'x');
    bmc_->clear_actions();
    base::clear_interrupt();
    auto o = options();
    bool sent = false;
    o.on_event = [&](const NodeEvent& e) {
      events_.push_back(e);
      if (!sent && e.step == c.step && e.event == c.event) {
        sent = true;
        ::raise(SIGINT);  // to this thread: handled before the step goes on
      }
    };
    events_.clear();
    const auto results = flash_nodes(inv, o);
    base::clear_interrupt();
    ASSERT_EQ(results.size(), 1u);
    ASSERT_TRUE(sent) << results[0].error << "\n"
                      << mktest::slurp(dir_ / "logs/calxeda01-01.log") << "\n--- console ---\n"
                      << mktest::slurp(dir_ / "logs/calxeda01-01.console.log");
    const NodeResult& r = results[0];
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.interrupted, SIGINT) << r.error;
    // A BMC command is not cut off halfway, and check-image and verify do
    // not wait: such a step ends, the next one is the one interrupted.
    const auto at = std::find(steps.begin(), steps.end(), c.step);
    const bool runs_to_its_end =
        c.step == "check-image" || c.step == "verify" || c.step.rfind("power-", 0) == 0 ||
        c.step.rfind("bootdev-", 0) == 0;
    const std::string want = runs_to_its_end && at + 1 != steps.end() ? *(at + 1) : c.step;
    EXPECT_EQ(r.failed_step, want)
        << r.failed_step << "\n" << mktest::slurp(dir_ / "logs/calxeda01-01.log");
    EXPECT_NE(r.error.find("interrupted by SIGINT in step " + r.failed_step), std::string::npos) << r.error;
    std::vector<std::string> ran;
    for (const auto& s : r.steps) ran.push_back(s.step);
    // The last step has no later one to notice the signal: it is reported
    // after that step's command ended.
    auto stop = std::find(steps.begin(), steps.end(), r.failed_step);
    if (c.step == steps.back()) ++stop;
    EXPECT_EQ(ran, std::vector<std::string>(steps.begin(), stop));
    const std::string log = mktest::slurp(dir_ / "logs/calxeda01-01.log");
    EXPECT_NE(log.find("step " + r.failed_step + ": INTERRUPTED by SIGINT"), std::string::npos);
    // The node: untouched before the first BMC command; after the disk
    // boot was chosen it keeps the verified disk; otherwise PXE, power off.
    const auto actions = bmc_->actions();
    if (r.failed_step == "check-image" || r.failed_step == "power-off") {
      EXPECT_TRUE(actions.empty() || actions == std::vector<std::string>{"power 0"}) << ::testing::PrintToString(actions);
    } else if (r.failed_step == "power-reset") {  // the verified disk was selected, then the reset ran
      std::vector<std::string> want_actions = {"power 0", "boot pxe", "power 1", "boot default"};
      if (c.step == "power-reset") want_actions.push_back("reset 1");
      EXPECT_EQ(actions, want_actions);
      EXPECT_NE(r.error.find("the verified image was already selected to boot"), std::string::npos) << r.error;
    } else {
      ASSERT_GE(actions.size(), 2u);
      EXPECT_EQ(std::vector<std::string>(actions.end() - 2, actions.end()),
                (std::vector<std::string>{"boot pxe", "power 0"}))
          << ::testing::PrintToString(actions);
    }
    // No child of ours is left: ipmitool, its SOL session, the push's.
    std::map<pid_t, std::string> left;
    for (int i = 0; i < 100; ++i) {
      left.clear();
      for (const auto& [p, cmd] : children())
        if (!before.count(p)) left[p] = cmd;
      if (left.empty()) break;
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(left.empty()) << left.begin()->second;
    // The SOL payload is free: one connect, no `sol deactivate` first.
    const bmc::NodeControl ctl(inv.node("calxeda01-01"), lab::node_device_config(inv.node("calxeda01-01")),
                               lab::read_bmc_password(inv.node("calxeda01-01")), {},
                               bmc::RetryPolicy{1, 100ms, 20000ms});
    auto co = bmc::console_options(ctl, "", {});
    co.deactivate_argv.clear();
    co.max_reconnects = 1;
    bmc::SolConsole again(co);
    EXPECT_NO_THROW(again.connect(false));
    again.close();
  }
}

// The direct push's image options reach a node's stream-image step: a
// reflash with --delta sends only what the disk does not hold yet.
TEST_F(NodePush, ReflashWithDeltaKeepsWhatTheDiskHolds) {
  std::string image = mktest::slurp(dir_ / "image.raw");
  std::string disk = image + std::string(4096, 'x');
  disk[(2 << 20) + 5000] ^= 0x11;  // one 4 KiB block (of the data) differs
  std::ofstream(dir_ / "node/disk.img", std::ios::binary) << disk;
  const auto inv = lab::load_inventory((dir_ / "lab.ini").string());
  auto o = options();
  o.push.delta = true;
  const auto results = flash_nodes(inv, o);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].ok) << results[0].error << "\n" << mktest::slurp(dir_ / "logs/calxeda01-01.log");
  EXPECT_EQ(mktest::slurp(dir_ / "node/disk.img").substr(0, image.size()), image);
  EXPECT_NE(results[0].push.verify_message.find("bytes read back"), std::string::npos)
      << results[0].push.verify_message;
  EXPECT_NE(results[0].push.verify_message.find("checked by their delta hash"), std::string::npos)
      << results[0].push.verify_message;
}

TEST_F(NodePush, AFailureNamesNodeAndStep) {
  const auto inv = lab::load_inventory((dir_ / "lab.ini").string());
  auto o = options();
  o.on_node.networking = "echo no link; false";
  const auto results = flash_nodes(inv, o);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(results[0].failed_step, "configure-network");
  EXPECT_NE(results[0].error.find("calxeda01-01: step configure-network failed after"), std::string::npos)
      << results[0].error;
  EXPECT_NE(results[0].error.find("exited 1"), std::string::npos) << results[0].error;
  // Nothing after the failed step happened, but PXE was selected again
  // (a one-shot PXE was used up by the boot).
  EXPECT_EQ(bmc_->actions(), (std::vector<std::string>{"power 0", "boot pxe", "power 1", "boot pxe"}));
  EXPECT_EQ(mktest::slurp(dir_ / "node/state/agent.secret"), "");
}

TEST_F(NodePush, TwoNodesInParallelEachWithItsOwnLogs) {
  // A second node: its own console, BMC and agent port.
  fs::create_directories(dir_ / "n2/node");
  bmc::test::FakeConsole console2((dir_ / "n2/node").string());
  bmc::test::BmcSim bmc2((dir_ / "n2").string(), "admin", "pw-0123456789", console2.port());
  ASSERT_TRUE(console2.wait_connected(15s));
  std::ofstream(dir_ / "n2/node/disk.img", std::ios::binary) << std::string(4 << 20, 'y');
  std::ofstream(dir_ / "lab.ini", std::ios::app)
      << "[node 01-02]\neth0_mac = 52:54:00:12:34:57\neth0_ip = 10.0.2.16\nbmc = 127.0.0.1\nbmc_port = " << bmc2.port()
      << "\nagent_host = 127.0.0.1\nagent_port = " << bmc::test::free_port(SOCK_STREAM) << "\n";
  const auto inv = lab::load_inventory((dir_ / "lab.ini").string());
  auto o = options();
  o.nodes = {"calxeda01-01", "01-02"};
  o.parallel = 2;
  // The default fanout: one copy from this host to the first node, which
  // forwards it to the second over a hop keyed for this push.
  o.push_relay = relay_push_fn(push::push_relay);
  const auto start = std::chrono::steady_clock::now();
  const auto results = flash_nodes(inv, o);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string pid2 = mktest::slurp(dir_ / "n2/node/state/agent.pid");
  if (!pid2.empty()) ::kill(std::stoi(pid2), SIGKILL);
  ASSERT_EQ(results.size(), 2u);
  double sum = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok) << r.error;
    for (const auto& s : r.steps) sum += s.seconds;
  }
  // Both ran at the same time: the wall time is well below the sum.
  EXPECT_LT(wall, sum * 0.8) << "wall " << wall << " s, sum of both nodes' steps " << sum << " s";
  const std::string image = mktest::slurp(dir_ / "image.raw");
  EXPECT_EQ(mktest::slurp(dir_ / "node/disk.img").substr(0, image.size()), image);
  EXPECT_EQ(mktest::slurp(dir_ / "n2/node/disk.img").substr(0, image.size()), image);
  const std::vector<std::string> flow = {"power 0", "boot pxe", "power 1", "boot default", "reset 1"};
  EXPECT_EQ(bmc_->actions(), flow);
  EXPECT_EQ(bmc2.actions(), flow);
  EXPECT_TRUE(fs::exists(dir_ / "logs/calxeda01-01.log"));
  EXPECT_TRUE(fs::exists(dir_ / "logs/calxeda01-02.log"));
  EXPECT_TRUE(fs::exists(dir_ / "logs/calxeda01-02.console.log"));
  // The two one-time secrets differ.
  EXPECT_NE(mktest::slurp(dir_ / "node/state/secret.seen"), mktest::slurp(dir_ / "n2/node/state/secret.seen"));
}

}  // namespace
}  // namespace flash
