#include "mkmaster/initrd/skel.h"

#include "mkmaster/initrd/image_contract.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "testing/child.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace initrd {
namespace {

// The embedded copies are the files under skel/ byte for byte (tests run
// in this folder), so editing a script and rebuilding is all it takes.
TEST(Skel, EmbeddedCopiesMatchTheFiles) {
  for (const char* name : {"init", "functions", "udhcpc.script", "start-agent"}) {
    std::ifstream f(std::string("skel/") + name, std::ios::binary);
    ASSERT_TRUE(f) << name;
    std::stringstream ss;
    ss << f.rdbuf();
    EXPECT_EQ(skel(name), ss.str()) << name;
  }
  EXPECT_THROW(skel("nope"), std::out_of_range);
}

TEST(Skel, InitHonoursTheDocumentedCommandLine) {
  std::string_view init = skel("init");
  for (const char* want : {"break | break=*)", "mkmaster.sg=*)", "setsid cttyhack sh", "mount -t devtmpfs",
                           "/etc/mkmaster/modules", "ethtool -K"})
    EXPECT_NE(init.find(want), std::string_view::npos) << want;
  EXPECT_NE(skel("functions").find("configure_networking()"), std::string_view::npos);
}

// The start script and the contract name the same agent and the same
// configure_networking the pipeline types.
TEST(Skel, StartAgentAndTheImageContractAgree) {
  EXPECT_NE(skel("start-agent").find(std::string("${MKMASTER_AGENT:-") + contract::kAgentPath + "}"),
            std::string_view::npos);
  EXPECT_EQ(std::string(contract::kNetworkingCommand).rfind(std::string(". ") + contract::kFunctionsPath + ";", 0), 0u);
  EXPECT_NE(skel("functions").find("configure_networking()"), std::string_view::npos);
}

// Runs skel/start-agent under busybox ash, as the image does, with a stand-in
// agent script; returns its exit status and output.
struct StartAgentRun {
  int status = -1;
  std::string out;
};
StartAgentRun run_start_agent(const std::filesystem::path& dir, const std::string& fake_agent) {
  const auto agent = dir / "fake-agent";
  std::ofstream(agent) << "#!/bin/sh\n" << fake_agent;
  std::filesystem::permissions(agent, std::filesystem::perms::owner_all);
  ::setenv("MKMASTER_AGENT", agent.c_str(), 1);
  auto c = mktest::spawn({"busybox", "sh", "skel/start-agent", "4000", (dir / "secret").string(), "/dev/null",
                          (dir / "state").string()});
  ::unsetenv("MKMASTER_AGENT");
  StartAgentRun r;
  r.out = c.read_all_stdout();
  r.status = c.wait(std::chrono::seconds(40)).value_or(-1);
  return r;
}

// A second start in the same boot (a retry, a reconnect) finds the last
// agent's log. The wait must not take its "listening on" for the new
// agent's, however late the new one gets to run.
TEST(StartAgent, WaitsForTheNewAgentNotAnEarlierOnesLog) {
  mktest::TempDir tmp{"start-agent"};
  const std::filesystem::path dir = tmp.path();
  std::filesystem::create_directories(dir / "state");
  std::ofstream(dir / "state/agent.log") << "target-agent: listening on 0.0.0.0:4000\n";
  const auto r = run_start_agent(dir, "sleep 0.5; echo 'target-agent: listening on NEW' >&2; exec sleep 5\n");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(mktest::slurp(dir / "state/agent.log"), "target-agent: listening on NEW\n");
  const std::string pid = mktest::slurp(dir / "state/agent.pid");
  ASSERT_FALSE(pid.empty());
  ::kill(std::stoi(pid), SIGKILL);
}

// An agent that ends before it listens: the console transcript says how,
// then shows its log.
TEST(StartAgent, SaysHowTheAgentEndedBeforeListening) {
  mktest::TempDir tmp{"start-agent"};
  const std::filesystem::path dir = tmp.path();
  std::filesystem::create_directories(dir / "state");
  auto r = run_start_agent(dir, "echo 'target-agent: error: bind: Address in use' >&2; exit 3\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("start-agent: the agent exited 3 before it listened"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("target-agent: error: bind: Address in use"), std::string::npos) << r.out;
  r = run_start_agent(dir, "kill -9 $$\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("start-agent: the agent was killed by signal 9 before it listened"), std::string::npos)
      << r.out;
}

}  // namespace
}  // namespace initrd
