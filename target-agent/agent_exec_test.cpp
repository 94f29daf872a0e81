// EXEC that works: no timeout is no limit; a timeout holds after the child
// closed its stdio; the whole process group goes; a host that hangs up
// takes the command with it. Survivors are looked for in the process table.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;
using namespace std::chrono_literals;

namespace {

// Running (a zombie waiting for its reaper has ended).
bool running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(in, s)) return false;
  const size_t close = s.rfind(')');
  return close != std::string::npos && close + 2 < s.size() && s[close + 2] != 'Z';
}

// Waits (bounded) until none of pids runs; false if one still does after 10 s.
bool all_gone(const std::vector<pid_t>& pids) {
  for (int i = 0; i < 200; ++i) {
    bool any = false;
    for (pid_t p : pids) any = any || running(p);
    if (!any) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::vector<pid_t> read_pids(const std::string& file) {
  std::vector<pid_t> out;
  std::ifstream in(file);
  for (pid_t p; in >> p;) out.push_back(p);
  return out;
}

// Waits (bounded) until `file` lists n pids.
std::vector<pid_t> wait_pids(const std::string& file, size_t n) {
  for (int i = 0; i < 200; ++i) {
    auto p = read_pids(file);
    if (p.size() >= n) return p;
    std::this_thread::sleep_for(50ms);
  }
  return read_pids(file);
}

}  // namespace

class AgentExec : public AgentTest {
 protected:
  void SetUp() override {
    allow_exec_ = true;
    start();
  }
  struct Run {
    ExitMsg exit;
    std::string out;
  };
  Run run(Channel& ch, std::vector<std::string> argv, uint32_t timeout_s) {
    ch.send(encode(ExecMsg{std::move(argv), timeout_s}));
    Run r;
    for (;;) {
      Frame f = ch.recv();
      if (f.type == FrameType::kExit) {
        r.exit = decode<ExitMsg>(f);
        return r;
      }
      EXPECT_EQ(f.type, FrameType::kOutput) << type_name(f.type);
      r.out.append(f.payload.begin(), f.payload.end());
    }
  }
};

TEST_F(AgentExec, NoTimeoutMeansNoLimit) {
  auto ch = connect();
  auto r = run(*ch, {"sh", "-c", "sleep 1; echo hi"}, 0);
  EXPECT_EQ(r.out, "hi\n");
  EXPECT_EQ(r.exit.status, 0);
  EXPECT_FALSE(r.exit.timed_out);
}

TEST_F(AgentExec, TimeoutHoldsAfterTheChildClosedItsStdio) {
  auto ch = connect();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run(*ch, {"sh", "-c", "echo $$ > " + path("pids") + "; exec >/dev/null 2>&1; sleep 60"}, 1);
  EXPECT_TRUE(r.exit.timed_out);
  EXPECT_TRUE(r.exit.signaled);
  EXPECT_EQ(r.exit.status, SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s) << "the command ran to its end";
  EXPECT_TRUE(all_gone(read_pids(path("pids"))));
}

TEST_F(AgentExec, TheWholeProcessGroupIsKilled) {
  auto ch = connect();
  // A grandchild on the pipes, and one that let go of them.
  auto r = run(*ch,
               {"sh", "-c",
                "sleep 60 & echo $! >> " + path("pids") + "; sleep 60 >/dev/null 2>&1 & echo $! >> " + path("pids") +
                    "; sleep 60"},
               1);
  EXPECT_TRUE(r.exit.timed_out);
  auto pids = read_pids(path("pids"));
  EXPECT_EQ(pids.size(), 2u);
  EXPECT_TRUE(all_gone(pids)) << "a grandchild survived";
  // Without a timeout: the command's exit ends the EXEC, and what it left
  // running in the background goes with it.
  r = run(*ch, {"sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $! > " + path("bg")}, 0);
  EXPECT_EQ(r.exit.status, 0);
  EXPECT_FALSE(r.exit.timed_out);
  EXPECT_TRUE(all_gone(read_pids(path("bg"))));
}

TEST_F(AgentExec, HostHangingUpKillsTheCommand) {
  {
    auto ch = connect();
    ch->send(encode(ExecMsg{{"sh", "-c", "echo $$ > " + path("pids") + "; sleep 60 & wait"}, 0}));
    ASSERT_EQ(wait_pids(path("pids"), 1).size(), 1u);
  }  // closed
  EXPECT_TRUE(all_gone(read_pids(path("pids"))));
  // The agent is free for the next host.
  auto ch = connect();
  EXPECT_EQ(run(*ch, {"true"}, 0).exit.status, 0);
}
