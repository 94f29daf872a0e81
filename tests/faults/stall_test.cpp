// Bounded waits with the real binaries: a push to an agent that stops
// answering mid-stream — SIGSTOPped, or behind a link that drops every
// packet — must fail within --stall-timeout (plus a margin), name the agent
// and say what was durable, instead of sitting in a zero TCP window or in
// the kernel's ~15-minute retransmission limit.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <random>
#include <regex>
#include <thread>

#include "testing/child.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace mktest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr double kStallSeconds = 3;
// Process start-up, the kernel noticing, a loaded 2-core CI machine.
constexpr double kMarginSeconds = 3;
constexpr size_t kImageSize = 64u << 20;

std::string random_image(size_t size) {
  std::string img(size, '\0');
  std::mt19937_64 rng(17);
  for (size_t i = 0; i + 8 <= size; i += 8) {
    uint64_t v = rng() | 1;
    std::memcpy(&img[i], &v, 8);
  }
  return img;
}

// Reads the child's output until a line matches `re`; returns group 1.
std::string wait_for_line(Child& c, const std::regex& re, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string line;
  while (Clock::now() < deadline) {
    char ch;
    if (read(c.stdout_fd, &ch, 1) <= 0) break;
    if (ch != '\n') {
      line += ch;
      continue;
    }
    std::smatch m;
    if (std::regex_search(line, m, re)) return m[1];
    line.clear();
  }
  throw std::runtime_error("the child did not print a line matching the expected pattern");
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Files {
  TempDir dir{"mkmaster-stall"};
  Files() {
    write_file(dir.file("image.raw"), random_image(kImageSize));
    write_file(dir.file("target.img"), std::string(kImageSize, '\0'));
    write_file(dir.file("secret"), "stall-test-secret-0123456789abcdef\n");
  }
};

// `prefix`: e.g. {"ip", "netns", "exec", NS}.
Child start_agent(const Files& f, const std::vector<std::string>& prefix, const std::string& listen) {
  std::string cmd = "exec";
  for (const auto& p : prefix) cmd += " '" + p + "'";
  cmd += std::string(" '") + TARGET_AGENT + "' serve --listen " + listen + " --secret-file " + f.dir.file("secret") +
         " --target " + f.dir.file("target.img") + " --allow-file 2>&1";
  return spawn({"sh", "-c", cmd});
}

Child start_push(const Files& f, const std::vector<std::string>& prefix, const std::string& agent) {
  std::vector<std::string> argv = prefix;
  for (const std::string& a : {std::string(MKMASTER), std::string("push"), f.dir.file("image.raw"),
                               std::string("--agent"), agent, std::string("--secret-file"), f.dir.file("secret"),
                               std::string("--target"), f.dir.file("target.img"), std::string("--stall-timeout"),
                               std::to_string(kStallSeconds), std::string("--no-verify")})
    argv.push_back(a);
  return spawn(argv, f.dir.file("push.stderr"));
}

// After the fault: the push exits non-zero within the bound, names the
// agent, and says what was durable. Returns the measured seconds.
double expect_bounded_failure(Child& push, const Files& f, const std::string& agent, Clock::time_point fault_at) {
  auto rc = push.wait(std::chrono::seconds(static_cast<int>(kStallSeconds * 10)));
  const double took = seconds_since(fault_at);
  const std::string err = slurp(f.dir.file("push.stderr"));
  EXPECT_TRUE(rc.has_value()) << "push still running " << took << " s after the fault\n" << err;
  if (rc) {
    EXPECT_NE(*rc, 0) << err;
  }
  EXPECT_LT(took, kStallSeconds + kMarginSeconds) << err;
  EXPECT_NE(err.find("agent " + agent), std::string::npos) << err;
  EXPECT_NE(err.find("no progress for"), std::string::npos) << err;
  std::smatch m;
  EXPECT_TRUE(std::regex_search(err, m, std::regex("durable \\[0, (\\d+)\\) of (\\d+) bytes"))) << err;
  if (!m.empty()) {
    EXPECT_LT(std::stoull(m[1]), kImageSize) << "the fault came after the push had finished";
  }
  std::cout << err.substr(err.rfind("error:") == std::string::npos ? 0 : err.rfind("error:"));
  return took;
}

TEST(Stall, StoppedAgentFailsThePushWithinTheStallTimeout) {
  Files f;
  Child agent = start_agent(f, {}, "127.0.0.1:0");
  const std::string addr = wait_for_line(agent, std::regex("listening on (\\S+)"), 20s);
  Child push = start_push(f, {}, addr);
  // The agent prints this once it has answered OPEN: the stream starts now.
  wait_for_line(agent, std::regex("(new session)"), 20s);
  ASSERT_EQ(::kill(agent.pid, SIGSTOP), 0);
  const auto stopped_at = Clock::now();
  const double took = expect_bounded_failure(push, f, addr, stopped_at);
  std::cout << "SIGSTOPped agent: push failed " << took << " s after the stop (stall timeout " << kStallSeconds
            << " s)\n";
  ::kill(agent.pid, SIGCONT);  // so the Child's SIGTERM ends it at once
}

// Two network namespaces joined by a veth pair; removed on destruction.
struct NetnsPair {
  std::string host_ns, agent_ns;
  bool ok = false;
  std::string why;
  static bool run(const std::vector<std::string>& argv) {
    Child c = spawn(argv);
    c.read_all_stdout();
    auto rc = c.wait(10s);
    return rc && *rc == 0;
  }
  static bool have(const char* tool) {
    for (const char* dir : {"/usr/sbin/", "/sbin/", "/usr/bin/", "/bin/"})
      if (::access((std::string(dir) + tool).c_str(), X_OK) == 0) return true;
    return false;
  }
  NetnsPair() {
    if (::geteuid() != 0) {
      why = "needs root (network namespaces)";
      return;
    }
    for (const char* tool : {"ip", "nft", "tc"})
      if (!have(tool)) {
        why = std::string("needs '") + tool + "'";
        return;
      }
    const std::string id = std::to_string(::getpid());
    host_ns = "mkstall-h-" + id;
    agent_ns = "mkstall-a-" + id;
    ok = run({"ip", "netns", "add", host_ns}) && run({"ip", "netns", "add", agent_ns}) &&
         run({"ip", "-n", host_ns, "link", "add", "vh", "type", "veth", "peer", "name", "va", "netns", agent_ns}) &&
         run({"ip", "-n", host_ns, "addr", "add", "10.77.0.2/24", "dev", "vh"}) &&
         run({"ip", "-n", agent_ns, "addr", "add", "10.77.0.1/24", "dev", "va"}) &&
         run({"ip", "-n", host_ns, "link", "set", "vh", "up"}) && run({"ip", "-n", agent_ns, "link", "set", "va", "up"}) &&
         run({"ip", "-n", host_ns, "link", "set", "lo", "up"}) && run({"ip", "-n", agent_ns, "link", "set", "lo", "up"}) &&
         // 80 Mbit/s: the 64 MiB stream lasts ~7 s, so the fault lands mid-push.
         run({"ip", "netns", "exec", host_ns, "tc", "qdisc", "add", "dev", "vh", "root", "tbf", "rate", "80mbit",
              "burst", "64kb", "latency", "100ms"});
    if (!ok) why = "could not set up network namespaces with a veth pair and tbf";
  }
  // Every packet into and out of the agent's namespace is dropped from now
  // on: no RST, no ICMP — a pulled cable or a powered-off node.
  bool black_hole() {
    return run({"ip", "netns", "exec", agent_ns, "nft", "add table inet mkstall; "
                "add chain inet mkstall in { type filter hook input priority 0; policy drop; }; "
                "add chain inet mkstall out { type filter hook output priority 0; policy drop; }"});
  }
  ~NetnsPair() {
    if (!host_ns.empty()) run({"ip", "netns", "del", host_ns});
    if (!agent_ns.empty()) run({"ip", "netns", "del", agent_ns});
  }
};

TEST(Stall, BlackHoledLinkFailsThePushWithinTheStallTimeout) {
  NetnsPair net;  // outlives the processes running in it
  if (!net.ok) GTEST_SKIP() << net.why;
  Files f;
  Child agent = start_agent(f, {"ip", "netns", "exec", net.agent_ns}, "10.77.0.1:7070");
  wait_for_line(agent, std::regex("(listening on)"), 20s);
  Child push = start_push(f, {"ip", "netns", "exec", net.host_ns}, "10.77.0.1:7070");
  wait_for_line(agent, std::regex("(new session)"), 20s);
  std::this_thread::sleep_for(500ms);  // some data and ACKs on the wire first
  ASSERT_TRUE(net.black_hole());
  const auto fault_at = Clock::now();
  const double took = expect_bounded_failure(push, f, "10.77.0.1:7070", fault_at);
  std::cout << "black-holed link: push failed " << took << " s after the drop rule (stall timeout " << kStallSeconds
            << " s)\n";
}

}  // namespace
}  // namespace mktest
