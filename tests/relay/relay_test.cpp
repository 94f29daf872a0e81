// push_relay (mkmaster/push/relay_push.h) against target-agent processes on
// loopback, each with its own secret and its own target file: a chain of
// four ends with every target equal to the image; a middle agent killed
// mid-stream, or one stopped so that it falls behind, is cut out while the
// others finish and verify; a hop through the fault proxy that drops and
// flips resumes that hop only. Each runs with the native agent and with the
// static armhf agent under qemu-arm-static (skipped where not built).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "mkmaster/push/relay_push.h"
#include "testing/child.h"
#include "testing/fault_proxy.h"
#include "testing/files.h"
#include "testing/push_fixture.h"
#include "testing/temp_dir.h"

using namespace mktest;
using namespace std::chrono_literals;

namespace {

std::string free_address() {
  int fd = mkproto::tcp_listen("127.0.0.1:0");
  std::string a = mkproto::local_address(fd);
  ::close(fd);
  return a;
}

// Bytes this process has written (pwrite included), from /proc/PID/io.
uint64_t written_by(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  uint64_t v = 0;
  while (in >> key >> v)
    if (key == "wchar:") return v;
  return 0;
}

enum class Kind { kNative, kArmhf };

std::string armhf_agent() {
  if (const char* e = std::getenv("MKMASTER_ARMHF_AGENT")) return e;
  return MKMASTER_ARMHF_AGENT;
}

// One agent process with its own secret and target.
struct Agent {
  std::string address, secret_file, target;
  mkproto::Key key{};
  Child child;
};

std::string describe(const push::RelayResult& r);

class Relay : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (GetParam() == Kind::kArmhf) {
      if (::access(armhf_agent().c_str(), X_OK) != 0)
        GTEST_SKIP() << "no armhf agent at " << armhf_agent() << " (the host preset builds it)";
      if (::access("/usr/bin/qemu-arm-static", X_OK) != 0) GTEST_SKIP() << "qemu-arm-static not installed";
    }
  }

  void start_agents(size_t n, uint64_t target_size) {
    for (size_t i = 0; i < n; ++i) {
      auto a = std::make_unique<Agent>();
      a->address = free_address();
      a->secret_file = dir_.file("secret" + std::to_string(i));
      const std::string secret = "relay test secret of node " + std::to_string(i);
      write_file(a->secret_file, secret);
      a->key = mkproto::derive_key(secret);
      a->target = dir_.file("disk" + std::to_string(i));
      write_file(a->target, std::vector<uint8_t>(target_size, 0xee));
      std::vector<std::string> argv;
      if (GetParam() == Kind::kArmhf) argv = {"/usr/bin/qemu-arm-static", "-cpu", "cortex-a9", armhf_agent()};
      else argv = {TARGET_AGENT_BIN};
      for (const char* s : {"serve", "--listen", a->address.c_str(), "--secret-file", a->secret_file.c_str(),
                            "--target", a->target.c_str(), "--allow-file", "--io-timeout", "10"})
        argv.push_back(s);
      a->child = spawn(argv, dir_.file("agent" + std::to_string(i) + ".log"));
      agents_.push_back(std::move(a));
    }
    for (auto& a : agents_) {  // until each listens (qemu takes a moment)
      bool up = false;
      for (int t = 0; t < 200 && !up; ++t) {
        try {
          ::close(mkproto::tcp_connect(a->address, 200ms));
          up = true;
        } catch (const std::exception&) {
          std::this_thread::sleep_for(25ms);
        }
      }
      ASSERT_TRUE(up) << a->address;
    }
  }

  push::RelayOptions options(const std::string& image) {
    push::RelayOptions o;
    o.push.image = image;
    o.push.backoff = 20ms;
    o.push.stall_timeout = 20s;
    for (size_t i = 0; i < agents_.size(); ++i) {
      push::RelayNode n;
      n.agent.agent = agents_[i]->address;
      n.agent.key = agents_[i]->key;
      n.agent.io_timeout = 20s;
      n.name = "node" + std::to_string(i);
      o.nodes.push_back(n);
    }
    return o;
  }

  std::string image(size_t size, uint32_t seed) {
    image_ = make_sparse_image(size, seed);
    const std::string p = dir_.file("image.raw");
    write_file(p, image_);
    return p;
  }

  // The target holds the image (its first image-size bytes).
  bool holds_image(size_t i) {
    std::ifstream in(agents_[i]->target, std::ios::binary);
    std::vector<char> buf(1u << 20);
    for (size_t at = 0; at < image_.size(); at += buf.size()) {
      const size_t n = std::min(buf.size(), image_.size() - at);
      if (!in.read(buf.data(), static_cast<std::streamsize>(n))) return false;
      if (std::memcmp(buf.data(), image_.data() + at, n) != 0) return false;
    }
    return true;
  }

  // Every node but the one cut out finished and holds the image.
  void expect_the_others_hold_the_image(const push::RelayResult& r, size_t cut) {
    for (size_t i = 0; i < r.nodes.size(); ++i) {
      if (i == cut) continue;
      EXPECT_TRUE(r.nodes[i].ok) << describe(r);
      EXPECT_TRUE(holds_image(i)) << "node " << i;
    }
  }

  // Kills (or stops) agent i once it has written `after` bytes.
  std::thread signal_when_written(size_t i, uint64_t after, int sig, std::atomic<bool>& done) {
    pid_t pid = agents_[i]->child.pid;
    return std::thread([pid, after, sig, &done] {
      const auto deadline = std::chrono::steady_clock::now() + 60s;
      while (!done && std::chrono::steady_clock::now() < deadline) {
        if (written_by(pid) >= after) {
          ::kill(pid, sig);
          return;
        }
        std::this_thread::sleep_for(1ms);
      }
    });
  }

  TempDir dir_{"relay-test"};
  std::vector<std::unique_ptr<Agent>> agents_;
  std::vector<uint8_t> image_;
};

std::string describe(const push::RelayResult& r) {
  std::string s;
  for (const auto& n : r.nodes)
    s += n.name + ": " + (n.ok ? "ok " + n.verify_message : "FAILED at " + n.step + ": " + n.error) +
         " (" + std::to_string(n.seconds) + " s, hop reconnects " + std::to_string(n.hop_reconnects) + ")\n";
  return s;
}

}  // namespace

TEST_P(Relay, ChainOfFourEveryTargetEqualsTheImageOneCopyLeavesTheHost) {
  start_agents(4, 17u << 20);
  const std::string img = image(16u << 20, 7);
  push::RelayResult r = push::push_relay(options(img));
  ASSERT_EQ(r.failed(), 0u) << describe(r);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(r.nodes[i].verified) << describe(r);
    EXPECT_TRUE(holds_image(i)) << "node " << i;
  }
  EXPECT_TRUE(r.nodes[0].head);
  // One copy of the image's data leaves the host, whatever the number of nodes.
  uint64_t data = 0;
  for (uint8_t b : image_) data += b != 0;
  EXPECT_LE(r.host_bytes_sent, image_.size());
  EXPECT_GE(r.host_bytes_sent, data);
}

TEST_P(Relay, KilledMiddleAgentIsCutOutTheOthersFinishAndVerify) {
  start_agents(4, 72u << 20);
  const std::string img = image(64u << 20, 11);
  std::atomic<bool> done{false};
  auto killer = signal_when_written(1, 6u << 20, SIGKILL, done);
  push::RelayResult r = push::push_relay(options(img));
  done = true;
  killer.join();
  EXPECT_FALSE(r.nodes[1].ok) << describe(r);
  EXPECT_FALSE(r.nodes[1].error.empty());
  EXPECT_EQ(r.failed(), 1u) << describe(r);
  expect_the_others_hold_the_image(r, 1);
}

TEST_P(Relay, NodeBehindTheBoundIsCutOut) {
  start_agents(4, 72u << 20);
  const std::string img = image(64u << 20, 13);
  std::atomic<bool> done{false};
  auto stopper = signal_when_written(2, 4u << 20, SIGSTOP, done);
  auto o = options(img);
  o.max_lag = 8u << 20;
  o.hop_stall = 300ms;
  push::RelayResult r = push::push_relay(o);
  done = true;
  stopper.join();
  ::kill(agents_[2]->child.pid, SIGKILL);
  EXPECT_FALSE(r.nodes[2].ok) << describe(r);
  EXPECT_NE(r.nodes[2].error.find("behind"), std::string::npos) << describe(r);
  expect_the_others_hold_the_image(r, 2);
}

TEST_P(Relay, HopThroughTheFaultProxyResumesEveryFlipRejected) {
  start_agents(4, 33u << 20);
  const std::string img = image(32u << 20, 17);
  // Hop node1 → node2 only: 10 drops and 5 bit flips, past each handshake,
  // each within 1.5 MiB of its connection's start (a DATA frame is <= 1 MiB).
  FaultProxy proxy(agents_[2]->address, seeded_faults(5, 10, 5, 600, 1536u << 10));
  auto o = options(img);
  o.nodes[2].relay_address = proxy.address();
  push::RelayResult r = push::push_relay(o);
  ASSERT_EQ(r.failed(), 0u) << describe(r);
  EXPECT_EQ(proxy.applied(Fault::kDrop), 10);
  EXPECT_EQ(proxy.applied(Fault::kFlip), 5);
  // Each fault costs that hop one reconnect (a flip in the last BYE may
  // not); a flipped frame that was written would show in the targets below.
  EXPECT_GE(r.nodes[2].hop_reconnects, 14) << describe(r);
  EXPECT_EQ(r.nodes[3].hop_reconnects, 0) << "only the faulty hop reconnects";
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(holds_image(i)) << "node " << i;
}

INSTANTIATE_TEST_SUITE_P(Agents, Relay, ::testing::Values(Kind::kNative, Kind::kArmhf),
                         [](const auto& info) { return info.param == Kind::kNative ? "native" : "armhf"; });
