// The flash pipeline with fake power, console and data path: step order,
// the timeout each step is given, and a failure in each step naming node
// and step with nothing after it run.
#include "mkmaster/flash/flash.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "base/interrupt.h"
#include "mkmaster/bmc/sol_console.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace flash {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Everything the fakes saw, in order, with the timeout each wait was given.
struct Journal {
  std::vector<std::string> calls;
  std::map<std::string, std::chrono::milliseconds> timeouts;  // what → timeout
  std::string fail_on;                                        // a call that throws
  std::string fail_also_on;                                   // another one
  bool lose_console_once_on = false;                          // first secret exchange loses the console
  std::string typed;                                          // everything sent, secrets excluded
  std::string secret;                                         // the line typed into `read -rs`
  std::string signal_on;                                      // a call during which a signal arrives
  int signal = SIGINT;
  std::size_t signalled_at = 0;                               // calls.size() when it did
  // waits: the call is a wait of the console, which (as SolConsole::pump)
  // ends with base::Interrupted; a power command runs to its end.
  void call(const std::string& what, bool waits = false) {
    calls.push_back(what);
    if (!signal_on.empty() && what.rfind(signal_on, 0) == 0 && !signalled_at) {
      signalled_at = calls.size();
      ::raise(signal);  // a real signal, to the handler mkmaster installs
      if (waits) base::check_interrupt();
    }
    for (const auto& f : {fail_on, fail_also_on})
      if (!f.empty() && what.rfind(f, 0) == 0) throw std::runtime_error("fake failure in " + what);
  }
};

class FakePower : public bmc::PowerControl {
 public:
  explicit FakePower(Journal& j) : j_(j) {}
  std::string power(bmc::PowerAction a) override {
    j_.call(std::string("power ") + bmc::to_string(a));
    return "";
  }
  void bootdev(bmc::BootDevice d) override { j_.call(std::string("bootdev ") + bmc::to_string(d)); }

 private:
  Journal& j_;
};

class FakeConsole : public bmc::Console {
 public:
  explicit FakeConsole(Journal& j) : j_(j) {}
  bool connect(bool) override {
    j_.call("console connect", true);
    return false;
  }
  bool reconnect(const std::string&) override {
    j_.call("console reconnect", true);
    return true;
  }
  void close() override { j_.call("console close"); }
  void set_phase(bmc::Phase) override {}
  void send(std::string_view text) override { j_.typed += text; }
  void send_secret_line(const std::string& line) override {
    j_.secret = line;
    j_.call("secret", true);
  }
  bmc::ExpectResult expect(const std::vector<std::string>& patterns, std::chrono::milliseconds timeout,
                           const std::string& what) override {
    j_.timeouts[what] = timeout;
    j_.call("expect " + what, true);
    if (j_.lose_console_once_on && what == "the secret to be stored") {
      j_.lose_console_once_on = false;
      throw bmc::ConsoleLost("SOL session closed by BMC");
    }
    return {0, {patterns.at(0)}};
  }
  void wait_for_prompt(std::chrono::milliseconds timeout, std::chrono::milliseconds) override {
    j_.timeouts["prompt"] = timeout;
    j_.call("prompt", true);
  }
  int run(const std::string& command, std::chrono::milliseconds timeout) override {
    j_.timeouts[command.substr(0, command.find(' '))] = timeout;
    j_.call("run " + command, true);
    if (command.rfind("exit 127", 0) == 0) return 127;
    return command.find("false") != std::string::npos ? 1 : 0;
  }

 private:
  Journal& j_;
};

class Flash : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "types");
    std::ofstream(dir_ / "types/highbank.conf") << "client_type = highbank\n";
    std::ofstream(dir_ / "lab.ini") << "[lab]\ndevice_types = types\n"
                                       "[machine 02]\ndevice_type = highbank\nbmc_user = admin\npassword_env = X\n"
                                       "[node 02-01]\neth0_mac = 52:54:00:12:34:56\neth0_ip = 10.0.2.15\n"
                                       "bmc = 10.0.0.2\nagent_port = 7070\n";
    inv_ = lab::load_inventory((dir_ / "lab.ini").string());
  }

  FlashOptions options() {
    FlashOptions o;
    o.push.image = "img.raw";
    o.nodes = {"02-01"};
    o.log_dir = (dir_ / "logs").string();
    o.timeouts = {1s, 2s, 3s, 4s, 6s};
    o.push.stall_timeout = 5s;
    o.access = [this](const lab::Node&, const AccessRequest& r) {
      connect_timeout_ = r.connect_timeout;
      NodeAccess a;
      a.power = std::make_unique<FakePower>(j_);
      a.console = std::make_unique<FakeConsole>(j_);
      a.secrets = {"bmc-pw"};
      a.login_prompt = "login:";
      return a;
    };
    o.push_image = [this](const push::PushOptions& p) {
      pushed_ = p;
      j_.call("push");
      // As push_image does while data flows: the pipeline's progress
      // callback is where a signal stops the stream.
      if (p.on_progress) p.on_progress(push::Progress{});
      push::PushResult r;
      r.image_size = 4096;
      r.verified = true;
      r.verify_message = "ok";
      return r;
    };
    o.check_image = [this](const push::PushOptions& p) {
      j_.call("check image " + p.image);
      return p.image + ": 4096 bytes";
    };
    o.on_event = [this](const NodeEvent& e) { events_.push_back(e); };
    return o;
  }
  std::vector<std::string> steps(const NodeResult& r) {
    std::vector<std::string> s;
    for (const auto& t : r.steps) s.push_back(t.step);
    return s;
  }

  mktest::TempDir tmp_{"mkmaster-flash-test"};
  fs::path dir_ = tmp_.path();
  lab::Inventory inv_;
  Journal j_;
  push::PushOptions pushed_;
  std::chrono::milliseconds connect_timeout_{0};
  std::vector<NodeEvent> events_;
};

const std::vector<std::string> kSteps = {"check-image", "power-off",   "bootdev-pxe",  "console-connect", "power-on",
                                         "boot-master", "configure-network", "send-secret", "start-agent",
                                         "stream-image", "verify",      "bootdev-disk",    "power-reset"};

TEST_F(Flash, RunsEveryStepInOrder) {
  auto o = options();
  o.wait_login = true;
  const auto results = flash_nodes(inv_, o);
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].ok) << results[0].error;
  auto want = kSteps;
  want.push_back("wait-login");
  EXPECT_EQ(steps(results[0]), want);
  EXPECT_EQ(j_.calls.front(), "check image img.raw");
  EXPECT_EQ(j_.calls[1], "power off");
  EXPECT_EQ(j_.calls[2], "bootdev pxe");
  EXPECT_EQ(j_.calls[3], "console connect");
  EXPECT_EQ(j_.calls[4], "power on");
  EXPECT_EQ(j_.calls.back(), "console close");
  // The on-node commands are the image contract's.
  EXPECT_THAT(j_.calls, ::testing::Contains(std::string("run ") + initrd::contract::kNetworkingCommand));
  // Then --remove-secret-file, and --allow-from with this host's address
  // toward the node when there is a route to it (machine-dependent here).
  EXPECT_THAT(j_.calls, ::testing::Contains(::testing::StartsWith(
                            std::string("run ") + initrd::contract::kStartAgentPath +
                            " 7070 '/tmp/.mk/agent.secret' '/dev/sda' '/tmp/.mk' --remove-secret-file")));
  // The data path got the node's agent, the contract's disk and the stall timeout.
  EXPECT_EQ(pushed_.agent.agent, "10.0.2.15:7070");
  EXPECT_EQ(pushed_.target, "/dev/sda");
  EXPECT_EQ(pushed_.stall_timeout, 5s);
  EXPECT_EQ(pushed_.agent.key, mkproto::derive_key(j_.secret));
  EXPECT_EQ(results[0].push.image_size, 4096u);
}

TEST_F(Flash, EachStepGetsItsOwnTimeout) {
  ASSERT_TRUE(flash_nodes(inv_, options())[0].ok);
  EXPECT_EQ(connect_timeout_, 1s);                                    // console-connect
  EXPECT_EQ(j_.timeouts["prompt"], 2s);                               // boot-master
  EXPECT_EQ(j_.timeouts["."], 3s);                                    // configure-network
  EXPECT_EQ(j_.timeouts["the secret to be stored"], 4s);              // send-secret
  EXPECT_EQ(j_.timeouts[initrd::contract::kStartAgentPath], 4s);      // start-agent
  EXPECT_EQ(pushed_.stall_timeout, 5s);                               // stream-image
  auto o = options();
  o.wait_login = true;
  ASSERT_TRUE(flash_nodes(inv_, o)[0].ok);
  EXPECT_EQ(j_.timeouts["a login prompt from the flashed system"], 6s);  // wait-login
}

// A failure in each step: the result and the error name node and step, the
// failed step's event says so, and no later step ran.
TEST_F(Flash, AFailureInAnyStepNamesNodeAndStepAndStopsThere) {
  const std::vector<std::pair<std::string, std::string>> failures = {
      {"check-image", "check image"},
      {"power-off", "power off"},
      {"bootdev-pxe", "bootdev pxe"},
      {"console-connect", "console connect"},
      {"power-on", "power on"},
      {"boot-master", "prompt"},
      {"configure-network", "run ."},
      {"send-secret", "secret"},
      {"start-agent", std::string("run ") + initrd::contract::kStartAgentPath},
      {"stream-image", "push"},
      {"bootdev-disk", "bootdev disk"},
      {"power-reset", "power reset"},
  };
  for (const auto& [step, call] : failures) {
    SCOPED_TRACE(step);
    j_ = Journal{};
    j_.fail_on = call;
    events_.clear();
    const auto results = flash_nodes(inv_, options());
    ASSERT_EQ(results.size(), 1u);
    EXPECT_FALSE(results[0].ok);
    EXPECT_EQ(results[0].failed_step, step);
    EXPECT_THAT(results[0].error, HasSubstr("calxeda02-01: step " + step + " failed after"));
    EXPECT_THAT(results[0].error, HasSubstr("fake failure in " + call));
    ASSERT_FALSE(events_.empty());
    EXPECT_EQ(events_.back().step, step);
    EXPECT_EQ(events_.back().event, "failed");
    const auto pos = std::find(kSteps.begin(), kSteps.end(), step);
    EXPECT_EQ(steps(results[0]), std::vector<std::string>(kSteps.begin(), pos));
  }
}

TEST_F(Flash, VerifyFailsWhenTheDigestWasNotConfirmed) {
  auto o = options();
  o.push_image = [](const push::PushOptions&) {
    push::PushResult r;
    r.verify_message = "verify failed: first bad range [0, 4096) of /dev/sda";
    return r;
  };
  const auto r = flash_nodes(inv_, o)[0];
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.failed_step, "verify");
  EXPECT_THAT(r.error, HasSubstr("first bad range"));
  EXPECT_THAT(j_.calls, ::testing::Not(::testing::Contains("bootdev disk")));
}

// The boot device is disk only once the image verified: a failure after
// the node booted the master image selects PXE again (a one-shot PXE is
// used up by then), one before it needs nothing.
TEST_F(Flash, TheBootDeviceStaysPxeUntilVerifyPassed) {
  ASSERT_TRUE(flash_nodes(inv_, options())[0].ok);
  const auto verified = std::find(j_.calls.begin(), j_.calls.end(), "push");
  const auto disk = std::find(j_.calls.begin(), j_.calls.end(), "bootdev disk");
  ASSERT_NE(disk, j_.calls.end());
  EXPECT_LT(verified, disk);
  EXPECT_EQ(std::count(j_.calls.begin(), j_.calls.end(), "bootdev pxe"), 1);

  const std::vector<std::pair<std::string, bool>> failures = {
      {"power off", false}, {"bootdev pxe", false}, {"console connect", false}, {"power on", true},
      {"prompt", true},     {"run .", true},        {"secret", true},
      {std::string("run ") + initrd::contract::kStartAgentPath, true},
      {"push", true},       {"bootdev disk", true}};
  for (const auto& [call, booted] : failures) {
    SCOPED_TRACE(call);
    j_ = Journal{};
    j_.fail_on = call;
    const auto r = flash_nodes(inv_, options())[0];
    ASSERT_FALSE(r.ok);
    EXPECT_THAT(r.error, HasSubstr("fake failure in " + call)) << "the failure must stay the reported error";
    const auto pxe = std::count(j_.calls.begin(), j_.calls.end(), "bootdev pxe");
    if (booted) {
      EXPECT_EQ(pxe, 2) << "PXE not selected again after the node booted";
      std::vector<std::string> bootdevs;
      for (const auto& c : j_.calls)
        if (c.rfind("bootdev", 0) == 0) bootdevs.push_back(c);
      EXPECT_EQ(bootdevs.back(), "bootdev pxe");
    } else {
      EXPECT_LE(pxe, 1);
    }
  }
}

TEST_F(Flash, AFailedVerifyLeavesPxeAndSaysSo) {
  auto o = options();
  o.push_image = [this](const push::PushOptions&) {
    j_.call("push");
    push::PushResult r;
    r.verify_message = "verify failed: first bad range [0, 4096) of /dev/sda";
    return r;
  };
  const auto r = flash_nodes(inv_, o)[0];
  EXPECT_EQ(r.failed_step, "verify");
  EXPECT_THAT(r.error, HasSubstr("the node stays on PXE boot"));
  EXPECT_EQ(j_.calls.back(), "bootdev pxe");
}

TEST_F(Flash, AFailingPxeReselectDoesNotHideTheFailure) {
  j_.fail_on = "push";
  j_.fail_also_on = "bootdev pxe";  // the BMC now refuses too
  auto o = options();
  o.push.image = "img.raw";
  // The first bootdev pxe (before power-on) must pass for the node to boot.
  int pxe_calls = 0;
  auto access = o.access;
  o.access = [&, access](const lab::Node& n, const AccessRequest& req) {
    auto a = access(n, req);
    struct Power : bmc::PowerControl {
      Journal& j;
      int& pxe;
      Power(Journal& jj, int& p) : j(jj), pxe(p) {}
      std::string power(bmc::PowerAction act) override {
        j.call(std::string("power ") + bmc::to_string(act));
        return "";
      }
      void bootdev(bmc::BootDevice d) override {
        if (d == bmc::BootDevice::Pxe && ++pxe == 1) return;
        j.call(std::string("bootdev ") + bmc::to_string(d));
      }
    };
    a.power = std::make_unique<Power>(j_, pxe_calls);
    return a;
  };
  const auto r = flash_nodes(inv_, o)[0];
  EXPECT_EQ(r.failed_step, "stream-image");
  EXPECT_THAT(r.error, HasSubstr("fake failure in push"));
  EXPECT_EQ(pxe_calls, 2);
  const std::string log = mktest::slurp((dir_ / "logs" / "calxeda02-01.log").string());
  EXPECT_THAT(log, HasSubstr("could not set the boot device back to pxe"));
}

TEST_F(Flash, NonZeroExitOnTheNodeFailsTheStep) {
  auto o = options();
  o.on_node.networking = "false";
  const auto r = flash_nodes(inv_, o)[0];
  EXPECT_EQ(r.failed_step, "configure-network");
  EXPECT_THAT(r.error, HasSubstr("`false` exited 1"));
}

TEST_F(Flash, ALostConsoleDuringTheSecretIsRetriedOnANewSession) {
  j_.lose_console_once_on = true;
  const auto r = flash_nodes(inv_, options())[0];
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_THAT(j_.calls, ::testing::Contains("console reconnect"));
  EXPECT_THAT(j_.typed, HasSubstr("MK-SECRET-2-"));
}

TEST_F(Flash, UserStringsAreQuotedWhenTyped) {
  auto o = options();
  o.push.target = "/dev/sdb; reboot";
  o.on_node.agent_options = {"--allow-file"};
  ASSERT_TRUE(flash_nodes(inv_, o)[0].ok);
  EXPECT_THAT(j_.calls, ::testing::Contains(::testing::StartsWith(
                            std::string("run ") + initrd::contract::kStartAgentPath +
                            " 7070 '/tmp/.mk/agent.secret' '/dev/sdb; reboot' '/tmp/.mk' '--allow-file' "
                            "--remove-secret-file")));
  EXPECT_EQ(pushed_.target, "/dev/sdb; reboot");
}

TEST_F(Flash, SecretsNeverReachLogsOrEvents) {
  auto o = options();
  o.push_image = [this](const push::PushOptions& p) -> push::PushResult {
    p.on_progress(push::Progress{push::Progress::Kind::kReconnect, 0, 0, 0, 0, 0, "echo " + j_.secret});
    throw std::runtime_error("agent said bmc-pw " + j_.secret);
  };
  const auto r = flash_nodes(inv_, o)[0];
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(j_.secret.size(), 64u);
  EXPECT_THAT(r.error, HasSubstr("agent said **** ****"));
  std::ifstream in(dir_ / "logs/calxeda02-01.log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_THAT(log.str(), HasSubstr("step stream-image: FAILED"));
  EXPECT_THAT(log.str(), ::testing::Not(HasSubstr("bmc-pw")));
  EXPECT_THAT(log.str(), ::testing::Not(HasSubstr(j_.secret)));
  for (const auto& e : events_) EXPECT_THAT(e.message, ::testing::Not(HasSubstr("bmc-pw")));
  for (const auto& e : events_) EXPECT_THAT(e.message, ::testing::Not(HasSubstr(j_.secret)));
  EXPECT_THAT(events_, ::testing::Contains(::testing::Field(&NodeEvent::message, "reconnect: echo ****")));
  EXPECT_EQ(fs::status(dir_ / "logs/calxeda02-01.log").permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
}

// The stream step runs the user's push options, aimed at the node, and
// turns the push's progress into step events (at most one a second for
// plain progress).
TEST_F(Flash, TheStreamStepRunsTheUsersPushOptionsAndReportsProgress) {
  auto o = options();
  o.push.image = "http://server/img.gz";
  o.push.bmap = "img.bmap";
  o.push.holes = mkproto::HolesMode::kSkip;
  o.push.delta = true;
  o.push.compress = true;
  o.push.verify_kept = true;
  o.push.retries = 9;
  o.push_image = [this](const push::PushOptions& p) {
    pushed_ = p;
    using K = push::Progress::Kind;
    p.on_progress(push::Progress{K::kProgress, 1024, 4096, 1024, 0, 0.1, ""});
    p.on_progress(push::Progress{K::kProgress, 2048, 4096, 2048, 0, 0.2, ""});  // within the second: dropped
    p.on_progress(push::Progress{K::kReconnect, 2048, 4096, 2048, 0, 0.3, "connection reset"});
    p.on_progress(push::Progress{K::kVerify, 4096, 4096, 4096, 4096, 0.4, ""});
    push::PushResult r;
    r.image_size = 4096;
    r.seconds = 0.5;
    r.verified = true;
    r.verify_message = "ok, 4096 bytes read back";
    return r;
  };
  ASSERT_TRUE(flash_nodes(inv_, o)[0].ok);
  EXPECT_EQ(pushed_.image, "http://server/img.gz");
  EXPECT_EQ(pushed_.bmap, "img.bmap");
  EXPECT_EQ(pushed_.holes, mkproto::HolesMode::kSkip);
  EXPECT_TRUE(pushed_.delta);
  EXPECT_TRUE(pushed_.compress);
  EXPECT_TRUE(pushed_.verify_kept);
  EXPECT_TRUE(pushed_.verify);
  EXPECT_EQ(pushed_.retries, 9);
  std::vector<std::string> progress;
  for (const auto& e : events_)
    if (e.event == "progress") progress.push_back(e.step + ": " + e.message);
  EXPECT_EQ(progress, (std::vector<std::string>{"check-image: http://server/img.gz: 4096 bytes",
                                                "stream-image: 1024/4096 bytes (25%)",
                                                "stream-image: reconnect: connection reset", "stream-image: verifying",
                                                "stream-image: 4096 bytes in 0.5 s", "verify: ok, 4096 bytes read back"}));
}

TEST_F(Flash, NoVerifySkipsTheVerifyStepButStillRunsIt) {
  auto o = options();
  o.push.verify = false;
  o.push_image = [](const push::PushOptions& p) {
    EXPECT_FALSE(p.verify);
    return push::PushResult{};
  };
  const auto r = flash_nodes(inv_, o)[0];
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(steps(r), kSteps);
  EXPECT_THAT(events_, ::testing::Contains(::testing::Field(&NodeEvent::message, "skipped (--no-verify)")));
}

TEST_F(Flash, AMissingStartScriptSaysTheImageIsTooOld) {
  auto o = options();
  o.on_node.start_agent = "exit 127;";
  const auto r = flash_nodes(inv_, o)[0];
  EXPECT_EQ(r.failed_step, "start-agent");
  EXPECT_THAT(r.error, HasSubstr("is not in the node's image"));
}

TEST_F(Flash, AWaitLoginTimeoutFailsTheLastStep) {
  auto o = options();
  o.wait_login = true;
  j_.fail_on = "expect a login prompt";
  const auto r = flash_nodes(inv_, o)[0];
  EXPECT_EQ(r.failed_step, "wait-login");
  EXPECT_EQ(steps(r), kSteps);  // the disk was flashed and the node reset before
}

TEST_F(Flash, BadNodeListsAreRefusedBeforeAnyStep) {
  auto o = options();
  o.nodes = {"02-01", "calxeda02-01"};
  EXPECT_THROW(flash_nodes(inv_, o), std::runtime_error);
  o.nodes = {"09-09"};
  EXPECT_THROW(flash_nodes(inv_, o), std::exception);
  EXPECT_TRUE(j_.calls.empty());
}

// SIGINT delivered during every step: the node stops there, says
// "interrupted" with the step (result, event, log), runs no later step, and
// is left with its SOL session closed and, unless the verified disk was
// already selected, PXE boot set and the power off.
TEST_F(Flash, ASignalAtAnyStepLeavesTheDefinedState) {
  base::install_interrupt_handlers();
  // The call during which the signal arrives, and the step it interrupts:
  // console waits end at once; a power command runs to its end, so the
  // step after it is the one interrupted.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"power off", "bootdev-pxe"},
      {"bootdev pxe", "console-connect"},
      {"console connect", "console-connect"},
      {"power on", "boot-master"},
      {"prompt", "boot-master"},
      {"run .", "configure-network"},
      {"expect the node to wait for the secret", "send-secret"},
      {"secret", "send-secret"},
      {std::string("run ") + initrd::contract::kStartAgentPath, "start-agent"},
      {"push", "stream-image"},
      {"bootdev disk", "power-reset"},
      {"power reset", "wait-login"},
      {"expect a login prompt", "wait-login"},
  };
  std::vector<std::string> all = kSteps;
  all.push_back("wait-login");
  for (const auto& [call, step] : cases) {
    SCOPED_TRACE(call);
    base::clear_interrupt();
    j_ = Journal{};
    j_.signal_on = call;
    events_.clear();
    auto o = options();
    o.wait_login = true;
    const auto results = flash_nodes(inv_, o);
    base::clear_interrupt();
    ASSERT_EQ(results.size(), 1u);
    const NodeResult& r = results[0];
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.interrupted, SIGINT);
    EXPECT_EQ(r.failed_step, step);
    EXPECT_THAT(r.error, HasSubstr("calxeda02-01: interrupted by SIGINT in step " + step));
    // No later step ran.
    const auto pos = std::find(all.begin(), all.end(), step);
    EXPECT_EQ(steps(r), std::vector<std::string>(all.begin(), pos));
    bool event = false;
    for (const auto& e : events_) event |= e.event == "interrupted" && e.step == step && e.message == "SIGINT";
    EXPECT_TRUE(event);
    // The cleanup, after the signal.
    ASSERT_GT(j_.signalled_at, 0u);
    const std::vector<std::string> after(j_.calls.begin() + static_cast<std::ptrdiff_t>(j_.signalled_at),
                                         j_.calls.end());
    const bool disk_selected = pos > std::find(all.begin(), all.end(), "bootdev-disk");
    if (disk_selected) {
      EXPECT_EQ(after, (std::vector<std::string>{"console close"}));
      EXPECT_THAT(r.error, HasSubstr("the verified image was already selected"));
    } else {
      EXPECT_EQ(after, (std::vector<std::string>{"console close", "bootdev pxe", "power off"}));
      EXPECT_THAT(r.error, HasSubstr("SOL session closed, boot device pxe, powered off (agent stopped; the partial "
                                     "disk will not boot)"));
    }
    const std::string log = mktest::slurp(dir_ / "logs/calxeda02-01.log");
    EXPECT_THAT(log, HasSubstr("step " + step + ": INTERRUPTED by SIGINT"));
    EXPECT_THAT(log, HasSubstr("cleanup console-close: done"));
    if (!j_.secret.empty()) {
      EXPECT_EQ(log.find(j_.secret), std::string::npos);
    }
  }
}

TEST_F(Flash, SigtermIsReportedAsSuch) {
  base::install_interrupt_handlers();
  base::clear_interrupt();
  j_.signal_on = "prompt";
  j_.signal = SIGTERM;
  const auto r = flash_nodes(inv_, options())[0];
  base::clear_interrupt();
  EXPECT_EQ(r.interrupted, SIGTERM);
  EXPECT_THAT(r.error, HasSubstr("interrupted by SIGTERM in step boot-master"));
}

TEST_F(Flash, ASignalBeforeTheFirstStepLeavesTheNodeAlone) {
  base::install_interrupt_handlers();
  base::clear_interrupt();
  ::raise(SIGINT);
  const auto r = flash_nodes(inv_, options())[0];
  base::clear_interrupt();
  EXPECT_EQ(r.interrupted, SIGINT);
  EXPECT_EQ(r.failed_step, "check-image");  // the first step, which needs no node
  EXPECT_THAT(r.error, HasSubstr("the node was not touched"));
  EXPECT_TRUE(j_.calls.empty());
}

TEST_F(Flash, TheSecretIsTypedOnlyAfterTheNodeTurnedEchoOff) {
  ASSERT_TRUE(flash_nodes(inv_, options())[0].ok);
  const auto ready = std::find(j_.calls.begin(), j_.calls.end(), "expect the node to wait for the secret");
  const auto secret = std::find(j_.calls.begin(), j_.calls.end(), "secret");
  ASSERT_NE(ready, j_.calls.end());
  EXPECT_LT(ready, secret);
  // The line that prints the marker turns echo off first, and back on.
  const auto line = j_.typed.find("MK-READY-1-");
  ASSERT_NE(line, std::string::npos);
  const auto stty = j_.typed.rfind("stty -echo;", line);
  ASSERT_NE(stty, std::string::npos);
  EXPECT_NE(j_.typed.find("stty echo", line), std::string::npos);
  EXPECT_EQ(j_.typed.find(j_.secret), std::string::npos);
}

}  // namespace
// A bad image (missing file, HTTP 404) fails before the node is touched:
// no power or console call, so the node stays as the last job left it.
TEST_F(Flash, ABadImageFailsBeforeAnyPowerOrConsoleCall) {
  auto o = options();
  o.check_image = [](const push::PushOptions& p) -> std::string {
    throw std::runtime_error(p.image + ": HTTP 404 Not Found");
  };
  o.push.image = "http://server/missing.img";
  const auto r = flash_nodes(inv_, o);
  ASSERT_FALSE(r[0].ok);
  EXPECT_EQ(r[0].failed_step, "check-image");
  EXPECT_THAT(r[0].error, HasSubstr("calxeda02-01: step check-image failed after"));
  EXPECT_THAT(r[0].error, HasSubstr("http://server/missing.img: HTTP 404 Not Found"));
  EXPECT_TRUE(j_.calls.empty()) << ::testing::PrintToString(j_.calls);
}

// For LAVA: the flashed node is powered off with the disk selected and the
// console closed, so LAVA's boot action connects first and sees the boot.
TEST_F(Flash, LeaveOffPowersTheFlashedNodeOffInsteadOfResetting) {
  auto o = options();
  o.leave_off = true;
  const auto r = flash_nodes(inv_, o);
  ASSERT_TRUE(r[0].ok) << r[0].error;
  auto want = std::vector<std::string>(kSteps.begin(), kSteps.end() - 1);
  want.push_back("leave-off");
  EXPECT_EQ(steps(r[0]), want);
  const auto n = j_.calls.size();
  ASSERT_GE(n, 3u);
  EXPECT_EQ(j_.calls[n - 3], "bootdev disk");
  EXPECT_EQ(j_.calls[n - 2], "power off");
  EXPECT_EQ(j_.calls[n - 1], "console close");
  EXPECT_THAT(j_.calls, ::testing::Not(::testing::Contains(std::string("power reset"))));
  o.wait_login = true;
  EXPECT_THROW(flash_nodes(inv_, o), std::runtime_error);
}

}  // namespace flash
