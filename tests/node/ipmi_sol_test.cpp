// Power, boot device and SOL console automation against the real ipmitool
// talking lanplus to OpenIPMI's ipmi_sim on loopback. Every test is bounded
// by its own timeouts (the slowest is the SOL recovery, ~15 s).
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <filesystem>
#include <fstream>
#include <future>
#include <numeric>
#include <sstream>

#include "bmc_sim.h"
#include "testing/files.h"
#include "testing/temp_dir.h"
#include "mkmaster/lab/inventory.h"
#include "mkmaster/bmc/ipmi.h"
#include "mkmaster/lab/node_config.h"
#include "mkmaster/bmc/node_console.h"
#include "mkmaster/bmc/sol_console.h"
#include "base/interrupt.h"
#include "base/subprocess.h"

namespace bmc {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class IpmiSim : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "node");
    console_ = std::make_unique<test::FakeConsole>((dir_ / "node").string());
    bmc_ = std::make_unique<test::BmcSim>(dir_.string(), "admin", "s3cret-pw", console_->port());
    ASSERT_TRUE(console_->wait_connected(15s)) << "ipmi_sim never connected to the console";
  }
  void TearDown() override {
    bmc_.reset();
    console_.reset();
  }

  // An inventory with one node on this BMC; device type from `conf`.
  lab::Inventory inventory(const std::string& conf, const std::string& password = "s3cret-pw") {
    fs::create_directories(dir_ / "types");
    std::ofstream(dir_ / "types/simbank.conf") << conf;
    std::ofstream(dir_ / "pw") << password << "\n";
    fs::permissions(dir_ / "pw", fs::perms::owner_read | fs::perms::owner_write);
    std::ofstream(dir_ / "lab.ini") << "[lab]\ndevice_types = types\n"
                                       "[machine 01]\ndevice_type = simbank\nbmc_user = admin\npassword_file = pw\n"
                                       "[node 01-01]\neth0_mac = 52:54:00:12:34:56\neth0_ip = 10.0.2.15\n"
                                       "bmc = 127.0.0.1\nbmc_port = " << bmc_->port() << "\n";
    return lab::load_inventory((dir_ / "lab.ini").string());
  }

  NodeControl control(const lab::Inventory& inv, std::vector<std::string>* log = nullptr) {
    const lab::Node& n = inv.node("calxeda01-01");
    base::LogFn fn;
    if (log) fn = [log](const std::string& l) { log->push_back(l); };
    return NodeControl(n, lab::node_device_config(n), lab::read_bmc_password(n), fn, RetryPolicy{2, 100ms, 20000ms});
  }

  static constexpr const char* kSimConf =
      "client_type = highbank\n"
      "connection_command = ipmitool -I lanplus -C 3 -p %(bmc_port)s -U %(bmc_user)s -E -H %(ecmeip)s sol activate\n"
      "bootloader_serial_delay_ms = 120\n"
      "test_shell_serial_delay_ms = 30\n";

  // Declared first, so it outlives the BMC and the console working in it.
  mktest::TempDir tmp_{"mknode-ipmi"};
  fs::path dir_ = tmp_.path();
  std::unique_ptr<test::FakeConsole> console_;
  std::unique_ptr<test::BmcSim> bmc_;
};

TEST_F(IpmiSim, PowerAndBootdevReachTheBmcInOrder) {
  const auto inv = inventory(kSimConf);
  std::vector<std::string> log;
  auto ctl = control(inv, &log);
  ctl.power(PowerAction::Off);
  ctl.bootdev(BootDevice::Pxe);
  ctl.power(PowerAction::On);
  EXPECT_EQ(ctl.power(PowerAction::Status), "on");
  ctl.bootdev(BootDevice::Disk);
  ctl.power(PowerAction::Reset);
  ctl.power(PowerAction::Off);
  EXPECT_EQ(ctl.power(PowerAction::Status), "off");
  // `bootdev disk` arrives at the BMC as "boot default".
  EXPECT_EQ(bmc_->actions(),
            (std::vector<std::string>{"power 0", "boot pxe", "power 1", "boot default", "reset 1", "power 0"}));
  for (const auto& l : log) EXPECT_EQ(l.find("s3cret-pw"), std::string::npos) << l;
  ASSERT_FALSE(log.empty());
  // The built-in templates already use the inventory's session: nothing to
  // report, the session options just come first.
  EXPECT_NE(log.front().find("run ipmitool -U admin -E -C 3 -p "), std::string::npos) << log.front();
  for (const auto& l : log) EXPECT_EQ(l.find("replaced by"), std::string::npos) << l;
}

TEST_F(IpmiSim, WrongCredentialsGiveAClearErrorNamingNodeAndAction) {
  const auto inv = inventory(kSimConf, "wrong-password");
  auto ctl = control(inv);
  try {
    ctl.power(PowerAction::On);
    FAIL() << "power on with a wrong password succeeded";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("calxeda01-01: power on failed"), std::string::npos) << msg;
    EXPECT_NE(msg.find("wrong BMC user/password"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("wrong-password"), std::string::npos) << msg;
  }
  EXPECT_TRUE(bmc_->actions().empty());
  // The CLI: non-zero exit, message on stderr, password nowhere.
  auto r = base::run_process({MKMASTER_BIN, "bootdev", "pxe", "calxeda01-01", "--inventory", (dir_ / "lab.ini").string()}, {},
                       60s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("mkmaster: error: calxeda01-01: bootdev pxe failed"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("wrong-password"), std::string::npos);
}

TEST_F(IpmiSim, CliPowerAndBootdev) {
  inventory(kSimConf);
  const std::string inv = (dir_ / "lab.ini").string();
  auto r = base::run_process({MKMASTER_BIN, "bootdev", "pxe", "01-01", "-i", inv}, {}, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = base::run_process({MKMASTER_BIN, "power", "on", "calxeda01-01", "-i", inv, "-v"}, {}, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("s3cret-pw"), std::string::npos);
  r = base::run_process({MKMASTER_BIN, "power", "status", "calxeda01-01-02", "-i", inv}, {}, 60s);
  EXPECT_EQ(r.output, "calxeda01-01: on\n");
  EXPECT_EQ(bmc_->actions(), (std::vector<std::string>{"boot pxe", "power 1"}));
}

// Gaps between consecutive bytes of `text` as they arrived at the console.
std::vector<double> arrival_gaps_ms(test::FakeConsole& console, const std::string& text) {
  const auto in = console.inbound();
  std::string all;
  for (const auto& [t, c] : in) all.push_back(c);
  const auto pos = all.rfind(text);
  std::vector<double> gaps;
  if (pos == std::string::npos) return gaps;
  for (std::size_t i = pos + 1; i < pos + text.size(); ++i)
    gaps.push_back(std::chrono::duration<double, std::milli>(in[i].first - in[i - 1].first).count());
  return gaps;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

TEST_F(IpmiSim, CharactersAreTypedWithThePhaseDelay) {
  const auto inv = inventory(kSimConf);
  auto ctl = control(inv);
  SolConsole con(console_options(ctl, (dir_ / "transcript.log").string(), {}));
  con.connect(true);
  con.set_phase(Phase::Bootloader);  // 120 ms per character
  con.send("bootp\x15");
  con.set_phase(Phase::Shell);  // 30 ms per character
  EXPECT_EQ(con.run("echo typed-slowly", 30s), 0);
  // Network jitter moves single arrivals (a late byte makes the next gap
  // short), so the checks are on the median gap and on the whole span:
  // without the delays every gap would be about zero.
  const auto boot = arrival_gaps_ms(*console_, "bootp\x15");
  ASSERT_EQ(boot.size(), 5u) << console_->inbound_text();
  EXPECT_GE(median(boot), 100.0);
  EXPECT_GE(std::accumulate(boot.begin(), boot.end(), 0.0), 5 * 120.0 * 0.8);
  const auto shell = arrival_gaps_ms(*console_, "__mk ");
  ASSERT_EQ(shell.size(), 4u);
  EXPECT_GE(median(shell), 20.0);
  EXPECT_LT(median(shell), 110.0);
  EXPECT_GE(std::accumulate(shell.begin(), shell.end(), 0.0), 4 * 30.0 * 0.8);
  con.close();
  const std::string t = mktest::slurp(dir_ / "transcript.log");
  EXPECT_NE(t.find("< typed-slowly"), std::string::npos) << t;
}

TEST_F(IpmiSim, SolDeactivateMidCommandRecoversAndRunsItExactlyOnce) {
  const auto inv = inventory(kSimConf);
  auto ctl = control(inv);
  auto opts = console_options(ctl, (dir_ / "transcript.log").string(), {});
  opts.liveness_interval = 1000ms;
  SolConsole con(opts);
  con.connect(true);
  con.set_phase(Phase::Shell);
  EXPECT_EQ(con.run("echo warm-up", 30s), 0);
  // The BMC drops the session while the command runs (after it started).
  auto killer = std::async(std::launch::async, [&] {
    for (int i = 0; i < 200 && mktest::slurp(dir_ / "node/started").empty(); ++i) std::this_thread::sleep_for(50ms);
    return bmc_->ipmitool({"sol", "deactivate"});
  });
  const int rc = con.run("echo x >> started; sleep 3; echo ran >> count; exit_code_is() { return 7; }; exit_code_is", 60s);
  EXPECT_EQ(killer.get(), 0);
  EXPECT_EQ(rc, 7);
  EXPECT_GE(con.reconnects(), 1);
  EXPECT_EQ(mktest::slurp(dir_ / "node/count"), "ran\n");
  EXPECT_EQ(mktest::slurp(dir_ / "node/started"), "x\n");
  // The console is usable afterwards.
  EXPECT_EQ(con.run("echo after >> count", 30s), 0);
  EXPECT_EQ(mktest::slurp(dir_ / "node/count"), "ran\nafter\n");
  con.close();
  const std::string t = mktest::slurp(dir_ / "transcript.log");
  EXPECT_NE(t.find("reconnecting"), std::string::npos) << t;
}

TEST_F(IpmiSim, SolDeactivateWhileTypingNeverRunsAHalfLine) {
  const auto inv = inventory(kSimConf);
  auto ctl = control(inv);
  auto opts = console_options(ctl, (dir_ / "transcript.log").string(), {});
  opts.liveness_interval = 1000ms;
  SolConsole con(opts);
  con.connect(true);
  con.set_phase(Phase::Shell);
  EXPECT_EQ(con.run("true", 30s), 0);  // defines the helper first
  // ~90 characters at 30 ms: the session dies about half-way through.
  auto killer = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(1300ms);
    return bmc_->ipmitool({"sol", "deactivate"});
  });
  const int rc = con.run("echo one-two-three-four-five-six-seven-eight >> count; echo done >> count", 60s);
  EXPECT_EQ(killer.get(), 0);
  EXPECT_EQ(rc, 0);
  EXPECT_GE(con.reconnects(), 1);
  EXPECT_EQ(mktest::slurp(dir_ / "node/count"), "one-two-three-four-five-six-seven-eight\ndone\n");
}

// Every process's argv, as any user of the machine can read it.
std::vector<std::string> all_cmdlines() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "cmdline", std::ios::binary);
    std::string c((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(c.begin(), c.end(), '\0', ' ');
    if (!c.empty()) out.push_back(c);
  }
  return out;
}

TEST_F(IpmiSim, TheSeedsLiteralPasswordNeverReachesArgvTranscriptOrLog) {
  // The LAVA highbank.conf style: user and password written into the
  // template. Here they are wrong for this BMC (and the -C/-p it needs are
  // missing), so the session only opens if the inventory's are used, and
  // its password travels in IPMI_PASSWORD, never in argv.
  const auto inv = inventory(
      "client_type = highbank\n"
      "connection_command = ipmitool -I lanplus -U nobody -P wrong-pw -H %(ecmeip)s sol activate\n"
      "bootloader_serial_delay_ms = 300\ntest_shell_serial_delay_ms = 0\n");
  std::vector<std::string> log;
  auto ctl = control(inv);
  SolConsole con(console_options(ctl, (dir_ / "transcript.log").string(),
                                 [&](const std::string& l) { log.push_back(l); }));
  // /proc/*/cmdline sampled for the whole session.
  std::atomic<bool> done{false};
  std::atomic<int> samples{0}, ipmitool_seen{0};
  std::vector<std::string> leaks;
  std::thread sampler([&] {
    for (int i = 0; i < 3000 && !done; ++i) {  // at most ~60 s
      for (const auto& c : all_cmdlines()) {
        if (c.find("ipmitool") != std::string::npos && c.find("sol activate") != std::string::npos) ++ipmitool_seen;
        if (c.find("s3cret-pw") != std::string::npos || c.find("wrong-pw") != std::string::npos) leaks.push_back(c);
      }
      ++samples;
      std::this_thread::sleep_for(20ms);
    }
  });
  con.connect(true);
  con.set_phase(Phase::Shell);
  const std::string secret = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
  con.send("umask 077; IFS= read -rs k && printf '%s\\n' \"$k\" > agent.secret; echo MK-SECRET-$((1+1))\r");
  con.send_secret_line(secret);
  con.expect({"MK-SECRET-2\n"}, 10s, "the secret to be stored");
  con.close();
  done = true;
  sampler.join();
  EXPECT_GT(samples, 0);
  EXPECT_GT(ipmitool_seen, 0) << "the sampler never saw the console's ipmitool";
  EXPECT_TRUE(leaks.empty()) << leaks.front();
  EXPECT_EQ(mktest::slurp(dir_ / "node/agent.secret"), secret + "\n");
  EXPECT_EQ(fs::status(dir_ / "node/agent.secret").permissions() & fs::perms::group_all, fs::perms::none);
  EXPECT_EQ(fs::status(dir_ / "transcript.log").permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  const std::string t = mktest::slurp(dir_ / "transcript.log");
  EXPECT_EQ(t.find(secret), std::string::npos) << t;
  EXPECT_EQ(t.find("s3cret-pw"), std::string::npos) << t;
  EXPECT_EQ(t.find("wrong-pw"), std::string::npos) << t;
  EXPECT_NE(t.find("ipmitool -U admin -E -C 3 -p"), std::string::npos) << t;
  bool noted = false;
  for (const auto& l : log) {
    EXPECT_EQ(l.find("s3cret-pw"), std::string::npos) << l;
    EXPECT_EQ(l.find("wrong-pw"), std::string::npos) << l;
    noted |= l.find("the template's -U nobody -P **** replaced by the inventory's session") != std::string::npos;
  }
  EXPECT_TRUE(noted) << "the rewrite is not logged";
}

TEST_F(IpmiSim, ASignalEndsAConsoleWaitAndCloseFreesTheSolPayload) {
  const auto inv = inventory(kSimConf);
  auto ctl = control(inv);
  base::install_interrupt_handlers();
  base::clear_interrupt();
  {
    SolConsole con(console_options(ctl, (dir_ / "transcript.log").string(), {}));
    con.connect(true);
    std::thread signaller([] {
      std::this_thread::sleep_for(300ms);
      ::kill(::getpid(), SIGINT);
    });
    const auto start = std::chrono::steady_clock::now();
    bool interrupted = false;
    try {
      con.expect({"never printed"}, 30s, "something that never comes");
    } catch (const base::Interrupted& i) {
      interrupted = i.signal == SIGINT;
    }
    signaller.join();
    EXPECT_TRUE(interrupted);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    base::clear_interrupt();
    con.close();
  }
  // The BMC took the session's end: a new `sol activate` is accepted at once.
  std::vector<std::string> log;
  SolConsole again(console_options(ctl, "", [&](const std::string& l) { log.push_back(l); }));
  again.connect(false);
  int attempts = 0;
  for (const auto& l : log) attempts += l.find("connect (attempt") != std::string::npos;
  EXPECT_EQ(attempts, 1);
  again.close();
}

TEST_F(IpmiSim, InteractiveConsoleIsLogged) {
  inventory(kSimConf);
  // Keystrokes as a person would type them, then ipmitool's "~." to leave.
  const std::string script = fmt::format(
      "(sleep 1; printf '\\r'; sleep 0.5; printf 'echo console-$((3*4))\\r'; sleep 1.5; printf '\\r~.') | "
      "{} console calxeda01-01 -i {} --log-dir {}",
      MKMASTER_BIN, (dir_ / "lab.ini").string(), (dir_ / "logs").string());
  auto r = base::run_process({"sh", "-c", script}, {}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("console-12"), std::string::npos) << r.output;
  const std::string t = mktest::slurp(dir_ / "logs/calxeda01-01.console.log");
  EXPECT_NE(t.find("< console-12"), std::string::npos) << t;
  EXPECT_NE(t.find("# interactive console: ipmitool"), std::string::npos) << t;
  EXPECT_EQ(t.find("s3cret-pw"), std::string::npos) << t;
}

}  // namespace
}  // namespace bmc
