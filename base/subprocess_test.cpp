#include "base/subprocess.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace base {
namespace {

TEST(Subprocess, PassesEnvOnlyToTheChildAndTimesOut) {
  auto r = run_process({"sh", "-c", "echo \"$IPMI_PASSWORD\"; exit 3"}, {{"IPMI_PASSWORD", "pw1"}},
                  std::chrono::milliseconds(5000));
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.output, "pw1\n");
  EXPECT_EQ(std::getenv("IPMI_PASSWORD"), nullptr);
  auto t = run_process({"sleep", "5"}, {}, std::chrono::milliseconds(200));
  EXPECT_TRUE(t.timed_out);
  auto m = run_process({"/nonexistent/tool"}, {}, std::chrono::milliseconds(1000));
  EXPECT_TRUE(m.spawn_failed);
}

TEST(Subprocess, InterleavesStdoutAndStderr) {
  auto r = run_process({"sh", "-c", "echo a; echo b >&2; echo c"}, {}, std::chrono::milliseconds(5000));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "a\nb\nc\n");
}

}  // namespace
}  // namespace base
