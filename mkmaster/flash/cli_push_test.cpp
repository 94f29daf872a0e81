// `mkmaster push` chooses between the direct push and the pipeline from
// what the user typed: NODE… means the pipeline. Run as a user would, the
// real binary; none of these cases reach a network or a BMC.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/subprocess.h"
#include "testing/temp_dir.h"

namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

base::ProcessResult mkmaster(std::vector<std::string> args, const base::EnvVars& env = {}) {
  args.insert(args.begin(), {MKMASTER_BIN, "push"});
  return base::run_process(args, env, 30s);
}

TEST(PushModes, NeitherAgentNorNodesIsAClearError) {
  const auto r = mkmaster({"img.raw"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--agent HOST:PORT and --secret-file F are required (or NODE… with --inventory)"));
}

TEST(PushModes, SeveralAgentsNeedOneSecretFileEach) {
  const auto r = mkmaster({"img.raw", "--agent", "127.0.0.1:1", "--agent", "127.0.0.1:2", "--secret-file", "s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("2 --agent but 1 --secret-file"));
  const auto bad = mkmaster({"img.raw", "--agent", "127.0.0.1:1", "--secret-file", "s", "--fanout", "tree"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.output, HasSubstr("--fanout"));
}

TEST(PushModes, NodesWithoutAnInventoryAreNamed) {
  const auto r = mkmaster({"img.raw", "calxeda02-01"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("node names given (calxeda02-01…) but no --inventory"));
}

TEST(PushModes, AnInventoryFromTheEnvironmentLeavesADirectPushDirect) {
  // Without NODE the pipeline is not chosen: the push goes for the agent
  // (and fails on the missing secret file, not on the inventory).
  const auto r = mkmaster({"img.raw", "--agent", "127.0.0.1:1", "--secret-file", "/nonexistent/secret"},
                          {{"MKMASTER_INVENTORY", MKMASTER_TEST_DATA "/lab.ini"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("/nonexistent/secret"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("NODE")));
  const auto bare = mkmaster({"img.raw"}, {{"MKMASTER_INVENTORY", MKMASTER_TEST_DATA "/lab.ini"}});
  EXPECT_EQ(bare.exit_code, 1);
  EXPECT_THAT(bare.output, HasSubstr("an inventory is given (--inventory or MKMASTER_INVENTORY) but no NODE"));
}

TEST(PushModes, AgentOptionsWithNodesAreRefused) {
  const auto r = mkmaster({"img.raw", "calxeda02-01", "-i", MKMASTER_TEST_DATA "/lab.ini", "--agent", "127.0.0.1:1",
                           "--secret-file", "s"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("with NODE… the pipeline starts each node's agent itself"));
}

TEST(PushModes, AnUnknownNodeIsRefusedBeforeAnyStep) {
  const auto r = mkmaster({"img.raw", "calxeda09-09", "-i", MKMASTER_TEST_DATA "/lab.ini", "--log-dir", "/nonexistent/x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("calxeda09-09"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("power-off")));
}

// What a LAVA job log shows for a job whose image does not exist: the node,
// the step and the reason, a non-zero exit, and no power action at all.
TEST(PushModes, LavaOutputOfAMissingImageNamesNodeAndStepAndTouchesNoBmc) {
  const std::string logs = mktest::scratch_dir("push-lava").string();
  const auto r = mkmaster({"/nonexistent/img.raw", "calxeda02-01", "-i", MKMASTER_TEST_DATA "/lab.ini", "--lava",
                           "--leave-off", "--log-dir", logs},
                          {{"MK_BMC_PASSWORD_02", "not-used"}});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("mkmaster: calxeda02-01: check-image: start\n"));
  EXPECT_THAT(r.output, HasSubstr("mkmaster: calxeda02-01: check-image: FAIL after"));
  EXPECT_THAT(r.output, HasSubstr("/nonexistent/img.raw"));
  EXPECT_THAT(r.output, HasSubstr("mkmaster: calxeda02-01: result: FAIL in step check-image\n"));
  EXPECT_THAT(r.output, HasSubstr("mkmaster: error: calxeda02-01: step check-image failed after"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("power-off")));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("not-used")));
}

TEST(PushModes, LavaAndJsonAreOneOutputAndLeaveOffExcludesWaitLogin) {
  const auto both = mkmaster({"i", "calxeda02-01", "-i", MKMASTER_TEST_DATA "/lab.ini", "--lava", "--json"});
  EXPECT_NE(both.exit_code, 0);
  EXPECT_THAT(both.output, HasSubstr("excludes"));
  const auto r = mkmaster({"i", "calxeda02-01", "-i", MKMASTER_TEST_DATA "/lab.ini", "--leave-off", "--wait-login"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("excludes"));
}

}  // namespace
