// The pipeline of several nodes with fake power, consoles and data paths:
// with --fanout chain every node boots and starts its agent first, one
// relay push then streams to the ready nodes in order, and each verified
// node is finished; a node that fails before or inside the relay is
// reported with its step while the others finish. --fanout star keeps one
// push per node.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>
#include <mutex>

#include "mkmaster/flash/flash.h"
#include "mkmaster/flash/relay_adapter.h"
#include "testing/temp_dir.h"

namespace flash {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every call of every node, in the order they happened: "<node> <call>".
struct Log {
  std::mutex mu;
  std::vector<std::string> calls;
  std::string fail_on;  // "<node> <call>" that throws
  std::map<std::string, std::vector<std::string>> lines;  // node → command lines it ran
  std::atomic<int> consoles_open{0}, most_consoles_open{0};
  std::map<std::string, std::set<std::thread::id>> threads;  // node → threads its BMC calls came from
  void call(const std::string& node, const std::string& what) {
    const std::string c = node + " " + what;
    {
      std::lock_guard lock(mu);
      calls.push_back(c);
      threads[node].insert(std::this_thread::get_id());
    }
    if (!fail_on.empty() && c.rfind(fail_on, 0) == 0) throw std::runtime_error("fake failure in " + c);
  }
  std::size_t index(const std::string& c) {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(std::find(calls.begin(), calls.end(), c) - calls.begin());
  }
  std::size_t count(const std::string& c) {
    std::lock_guard lock(mu);
    return static_cast<std::size_t>(std::count(calls.begin(), calls.end(), c));
  }
};

class Power : public bmc::PowerControl {
 public:
  Power(Log& l, std::string node) : l_(l), node_(std::move(node)) {}
  std::string power(bmc::PowerAction a) override {
    l_.call(node_, std::string("power ") + bmc::to_string(a));
    return "";
  }
  void bootdev(bmc::BootDevice d) override { l_.call(node_, std::string("bootdev ") + bmc::to_string(d)); }

 private:
  Log& l_;
  std::string node_;
};

class Console : public bmc::Console {
 public:
  Console(Log& l, std::string node) : l_(l), node_(std::move(node)) {}
  bool connect(bool) override {
    l_.call(node_, "console connect");
    const int now = ++l_.consoles_open;
    int seen = l_.most_consoles_open;
    while (now > seen && !l_.most_consoles_open.compare_exchange_weak(seen, now)) {
    }
    return false;
  }
  bool reconnect(const std::string&) override { return true; }
  void close() override {
    l_.call(node_, "console close");
    --l_.consoles_open;
  }
  void set_phase(bmc::Phase) override {}
  void send(std::string_view) override {}
  void send_secret_line(const std::string&) override {}
  bmc::ExpectResult expect(const std::vector<std::string>& patterns, std::chrono::milliseconds,
                           const std::string&) override {
    return {0, {patterns.at(0)}};
  }
  void wait_for_prompt(std::chrono::milliseconds, std::chrono::milliseconds) override { l_.call(node_, "prompt"); }
  int run(const std::string& command, std::chrono::milliseconds) override {
    {
      std::lock_guard lock(l_.mu);
      l_.lines[node_].push_back(command);
    }
    l_.call(node_, "run " + command.substr(0, command.find(' ')));
    return 0;
  }

 private:
  Log& l_;
  std::string node_;
};

class FlashChain : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(dir_ / "types");
    std::ofstream(dir_ / "types/highbank.conf") << "client_type = highbank\n";
    std::ofstream ini(dir_ / "lab.ini");
    ini << "[lab]\ndevice_types = types\n"
           "[machine 02]\ndevice_type = highbank\nbmc_user = admin\npassword_env = X\n";
    for (int i = 1; i <= 4; ++i)
      ini << "[node 02-0" << i << "]\neth0_mac = 52:54:00:12:34:5" << i << "\neth0_ip = 10.0.2.1" << i
          << "\nbmc = 10.0.0." << i << "\nagent_port = 7070\n";
    ini.close();
    inv_ = lab::load_inventory((dir_ / "lab.ini").string());
  }

  FlashOptions options(std::vector<std::string> nodes) {
    FlashOptions o;
    o.push.image = "img.raw";
    o.nodes = std::move(nodes);
    o.parallel = 2;
    o.log_dir = (dir_ / "logs").string();
    o.timeouts = {1s, 2s, 3s, 4s, 6s};
    o.access = [this](const lab::Node& n, const AccessRequest&) {
      NodeAccess a;
      a.power = std::make_unique<Power>(log_, n.name);
      a.console = std::make_unique<Console>(log_, n.name);
      a.login_prompt = "login:";
      return a;
    };
    o.check_image = [](const push::PushOptions& p) { return p.image + ": 4096 bytes"; };
    o.push_image = [this](const push::PushOptions& p) {
      log_.call(p.agent.agent, "push");
      return verified_result();
    };
    o.push_relay = [this](const std::vector<RelayNode>& nodes) {
      std::vector<RelayOutcome> out;
      {
        std::lock_guard lock(log_.mu);
        ++relays_;
        relayed_ = nodes;
        log_.calls.push_back("relay");
      }
      for (const auto& n : nodes) {
        // As the relay does while data flows: each node's own progress.
        if (n.push.on_progress) n.push.on_progress(push::Progress{});
        RelayOutcome r;
        r.ok = n.node != cut_out_;
        r.push = verified_result();
        if (!r.ok) r.error = "cut out of the chain: its agent closed the relay connection";
        out.push_back(r);
      }
      return out;
    };
    o.on_event = [this](const NodeEvent& e) { events_.push_back(e); };
    return o;
  }
  static push::PushResult verified_result() {
    push::PushResult r;
    r.image_size = 4096;
    r.verified = true;
    r.verify_message = "ok";
    return r;
  }
  std::vector<std::string> steps(const NodeResult& r) {
    std::vector<std::string> s;
    for (const auto& t : r.steps) s.push_back(t.step);
    return s;
  }
  std::vector<std::string> relayed_names() {
    std::vector<std::string> s;
    for (const auto& n : relayed_) s.push_back(n.node);
    return s;
  }

  mktest::TempDir tmp_{"mkmaster-flash-chain-test"};
  fs::path dir_ = tmp_.path();
  lab::Inventory inv_;
  Log log_;
  int relays_ = 0;
  std::vector<RelayNode> relayed_;
  std::string cut_out_;
  std::vector<NodeEvent> events_;  // on_event is serialised by the pipeline
};

const std::vector<std::string> kSteps = {"check-image", "power-off",   "bootdev-pxe",  "console-connect", "power-on",
                                         "boot-master", "configure-network", "send-secret", "start-agent",
                                         "stream-image", "verify",      "bootdev-disk",    "power-reset"};
const std::string kStart = std::string("run ") + initrd::contract::kStartAgentPath;

TEST_F(FlashChain, EveryAgentListensBeforeOneRelayThenEachNodeIsFinished) {
  const auto results = flash_nodes(inv_, options({"02-03", "02-01", "02-02"}));
  ASSERT_EQ(results.size(), 3u);
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(steps(r), kSteps);
    EXPECT_EQ(r.push.image_size, 4096u);
  }
  EXPECT_EQ(relays_, 1);
  EXPECT_EQ(log_.count("10.0.2.11:7070 push"), 0u) << "no node was pushed on its own";
  // A node's console (ipmitool under PR_SET_PDEATHSIG) dies with the thread
  // that started it: every call of a node comes from one thread.
  for (const auto& [node, ids] : log_.threads) EXPECT_EQ(ids.size(), 1u) << node;
  // The chain is the order given, each node with its own agent and key.
  EXPECT_THAT(relayed_names(), ElementsAre("calxeda02-03", "calxeda02-01", "calxeda02-02"));
  EXPECT_EQ(relayed_[0].push.agent.agent, "10.0.2.13:7070");
  EXPECT_EQ(relayed_[1].push.agent.agent, "10.0.2.11:7070");
  EXPECT_NE(relayed_[0].push.agent.key, relayed_[1].push.agent.key);
  EXPECT_NE(relayed_[1].push.agent.key, relayed_[2].push.agent.key);
  for (const auto& n : relayed_) {
    EXPECT_EQ(n.push.target, "/dev/sda");
    EXPECT_TRUE(n.push.revoke_at_end);
  }
  const std::size_t relay = log_.index("relay");
  for (const std::string n : {"calxeda02-01", "calxeda02-02", "calxeda02-03"}) {
    SCOPED_TRACE(n);
    EXPECT_LT(log_.index(n + " " + kStart), relay) << "the relay started before this agent listened";
    EXPECT_GT(log_.index(n + " bootdev disk"), relay);
    EXPECT_LT(log_.index(n + " bootdev disk"), log_.index(n + " power reset"));
  }
  // The stream-image step says where the node sits in the chain.
  bool said = false;
  for (const auto& e : events_)
    if (e.node == "calxeda02-01" && e.step == "stream-image" && e.event == "progress" &&
        e.message == "relay: node 2 of 3, fed by calxeda02-03")
      said = true;
  EXPECT_TRUE(said);
}

// A hop into a node comes from another node of the chain (its upstream, or
// after a cut-out the one before that): each agent accepts the host and
// every other node of the push, and nothing else.
TEST_F(FlashChain, EachAgentAlsoAcceptsTheOtherNodesOfTheChain) {
  ASSERT_TRUE(flash_nodes(inv_, options({"02-01", "02-02", "02-03"}))[0].ok);
  const std::string& line = log_.lines["calxeda02-02"].back();
  ASSERT_THAT(line, ::testing::StartsWith(initrd::contract::kStartAgentPath));
  if (line.find("--allow-from") == std::string::npos) GTEST_SKIP() << "no route toward the node's address here";
  EXPECT_THAT(line, HasSubstr("--allow-from '10.0.2.11'"));
  EXPECT_THAT(line, HasSubstr("--allow-from '10.0.2.13'"));
  EXPECT_THAT(line, ::testing::Not(HasSubstr("'10.0.2.12'"))) << "a node need not accept itself";
  // Star: only the host.
  auto o = options({"02-01", "02-02"});
  o.fanout = push::Fanout::kStar;
  log_.lines.clear();
  ASSERT_TRUE(flash_nodes(inv_, o)[1].ok);
  EXPECT_THAT(log_.lines["calxeda02-02"].back(), ::testing::Not(HasSubstr("'10.0.2.11'")));
}

TEST_F(FlashChain, ANodeCutOutOfTheRelayFailsItsStreamStepAndTheOthersFinish) {
  cut_out_ = "calxeda02-02";
  const auto results = flash_nodes(inv_, options({"02-01", "02-02", "02-03"}));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok) << results[0].error;
  EXPECT_TRUE(results[2].ok) << results[2].error;
  EXPECT_FALSE(results[1].ok);
  EXPECT_EQ(results[1].failed_step, "stream-image");
  EXPECT_THAT(results[1].error, HasSubstr("calxeda02-02: step stream-image failed after"));
  EXPECT_THAT(results[1].error, HasSubstr("cut out of the chain"));
  // The failed node boots PXE again and is not reset into a half disk.
  EXPECT_EQ(log_.count("calxeda02-02 bootdev disk"), 0u);
  EXPECT_EQ(log_.count("calxeda02-02 power reset"), 0u);
  EXPECT_EQ(log_.count("calxeda02-02 bootdev pxe"), 2u);
  EXPECT_EQ(log_.count("calxeda02-03 bootdev disk"), 1u);
}

TEST_F(FlashChain, ANodeThatFailsToBootIsLeftOutOfTheChain) {
  log_.fail_on = "calxeda02-02 run .";  // configure-network
  const auto results = flash_nodes(inv_, options({"02-01", "02-02", "02-03"}));
  EXPECT_FALSE(results[1].ok);
  EXPECT_EQ(results[1].failed_step, "configure-network");
  EXPECT_TRUE(results[0].ok) << results[0].error;
  EXPECT_TRUE(results[2].ok) << results[2].error;
  EXPECT_THAT(relayed_names(), ElementsAre("calxeda02-01", "calxeda02-03"));
}

TEST_F(FlashChain, WithOneNodeLeftItIsOnePushAndNoRelay) {
  log_.fail_on = "calxeda02-01 prompt";
  const auto results = flash_nodes(inv_, options({"02-01", "02-02"}));
  EXPECT_FALSE(results[0].ok);
  ASSERT_TRUE(results[1].ok) << results[1].error;
  EXPECT_EQ(steps(results[1]), kSteps);
  EXPECT_EQ(relays_, 0);
  EXPECT_EQ(log_.count("10.0.2.12:7070 push"), 1u);
}

TEST_F(FlashChain, ARelayThatCannotRunFailsEveryNodesStreamStep) {
  auto o = options({"02-01", "02-02"});
  o.push_relay = [](const std::vector<RelayNode>&) -> std::vector<RelayOutcome> {
    throw std::runtime_error("calxeda02-01 refused the relay: not offered");
  };
  const auto results = flash_nodes(inv_, o);
  for (const auto& r : results) {
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failed_step, "stream-image");
    EXPECT_THAT(r.error, HasSubstr("refused the relay: not offered"));
    EXPECT_EQ(log_.count(r.node + " bootdev pxe"), 2u);
  }
}

TEST_F(FlashChain, StarPushesEachNodeOnItsOwn) {
  auto o = options({"02-01", "02-02", "02-03", "02-04"});
  o.fanout = push::Fanout::kStar;
  for (const auto& r : flash_nodes(inv_, o)) {
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(steps(r), kSteps);
  }
  EXPECT_EQ(relays_, 0);
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(log_.count("10.0.2.1" + std::to_string(i) + ":7070 push"), 1u);
  // Star finishes each node in its own pass: at most -j consoles at once.
  EXPECT_LE(log_.most_consoles_open.load(), 2);
}

TEST_F(FlashChain, DeltaWithAChainIsRefusedBeforeAnyNodeIsTouched) {
  auto o = options({"02-01", "02-02"});
  o.push.delta = true;
  try {
    flash_nodes(inv_, o);
    ADD_FAILURE() << "delta with a chain was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--delta cannot be combined with a relay"));
  }
  EXPECT_TRUE(log_.calls.empty());
  o.fanout = push::Fanout::kStar;
  for (const auto& r : flash_nodes(inv_, o)) EXPECT_TRUE(r.ok) << r.error;
}

// The pipeline's relay over push::push_relay: each node's address, key and
// name in order, the options all share, each node's progress to that
// node, and each result (a failure with the relay's step) to its outcome.
TEST_F(FlashChain, TheRelayAdapterMapsNodesProgressAndResults) {
  push::RelayOptions seen;
  auto entry = [&](const push::RelayOptions& o) {
    seen = o;
    push::Progress p;
    p.position = 2048;
    p.image_size = 4096;
    o.on_progress(1, p);
    push::RelayResult r;
    r.image_size = 4096;
    r.nodes.resize(2);
    r.nodes[0].ok = r.nodes[0].verified = true;
    r.nodes[0].verify_message = "ok (O_DIRECT)";
    r.nodes[0].bytes = 4096;
    r.nodes[0].seconds = 1.5;
    r.nodes[1].step = "relay";
    r.nodes[1].error = "control connection lost: the agent died";
    return r;
  };
  std::vector<RelayNode> nodes(2);
  std::vector<uint64_t> progress_of(2);
  for (int i = 0; i < 2; ++i) {
    nodes[i].node = "n" + std::to_string(i);
    nodes[i].push.image = "img.raw";
    nodes[i].push.target = "/dev/sda";
    nodes[i].push.agent.agent = "10.0.0." + std::to_string(i) + ":7070";
    nodes[i].push.agent.key = mkproto::Key{};
    nodes[i].push.agent.key[0] = static_cast<uint8_t>(i + 1);
    nodes[i].push.on_progress = [&progress_of, i](const push::Progress& p) { progress_of[i] = p.position; };
  }
  const auto out = relay_push_fn(entry)(nodes);
  ASSERT_EQ(seen.nodes.size(), 2u);
  EXPECT_EQ(seen.fanout, push::Fanout::kChain);
  EXPECT_EQ(seen.push.image, "img.raw");
  EXPECT_EQ(seen.push.target, "/dev/sda");
  EXPECT_EQ(seen.nodes[1].name, "n1");
  EXPECT_EQ(seen.nodes[1].agent.agent, "10.0.0.1:7070");
  EXPECT_EQ(seen.nodes[1].agent.key, nodes[1].push.agent.key);
  EXPECT_EQ(progress_of[0], 0u);
  EXPECT_EQ(progress_of[1], 2048u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].ok);
  EXPECT_TRUE(out[0].push.verified);
  EXPECT_EQ(out[0].push.verify_message, "ok (O_DIRECT)");
  EXPECT_EQ(out[0].push.image_size, 4096u);
  EXPECT_FALSE(out[1].ok);
  EXPECT_EQ(out[1].error, "relay step relay: control connection lost: the agent died");
  // A relay that loses count of its nodes is an error, not a silent success.
  auto short_entry = [&](const push::RelayOptions&) { return push::RelayResult{}; };
  EXPECT_THROW(relay_push_fn(short_entry)(nodes), std::runtime_error);
}

}  // namespace
}  // namespace flash
