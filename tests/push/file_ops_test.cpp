// pull / put / exec through push's client against a native agent.
#include <sys/stat.h>

#include <thread>

#include "mkmaster/push/file_ops.h"
#include "mkmaster/push/push.h"
#include "testing/push_fixture.h"

using namespace mktest;

class FileOps : public PushTest {
 protected:
  push::AgentAddress addr() { return options("", "").agent; }
};

TEST_F(FileOps, PutThenPullRoundTrips) {
  auto content = make_sparse_image(3 << 20, 11);
  write_file(path("local"), content);
  EXPECT_EQ(push::put_file(addr(), path("local"), path("remote")), content.size());
  EXPECT_EQ(push::pull_file(addr(), path("remote"), path("back")), content.size());
  EXPECT_EQ(read_file(path("back")), content);
  EXPECT_THROW(push::pull_file(addr(), path("missing"), path("x")), mkproto::ProtocolError);
  EXPECT_FALSE(std::filesystem::exists(path("x.part")));
}

TEST_F(FileOps, ExecReturnsStatusAndOutput) {
  std::string out, err;
  auto r = push::exec_command(addr(), {"sh", "-c", "echo hello; echo oops >&2; exit 7"}, 10,
                              [&](bool is_err, std::span<const uint8_t> b) { (is_err ? err : out).append(b.begin(), b.end()); });
  EXPECT_EQ(r.exit_code(), 7);
  EXPECT_EQ(out, "hello\n");
  EXPECT_EQ(err, "oops\n");
}

// Pull keeps the source's permission bits (never wider than they were).
TEST_F(FileOps, PullKeepsTheSourcesMode) {
  write_file(path("shadow"), std::string("root:x:1:\n"));
  ASSERT_EQ(::chmod(path("shadow").c_str(), 0640), 0);
  push::pull_file(addr(), path("shadow"), path("copy"));
  struct stat st;
  ASSERT_EQ(::stat(path("copy").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// Exec without a timeout is not limited (0 is "none", never a deadline).
TEST_F(FileOps, ExecWithoutATimeoutRuns) {
  std::string out;
  auto r = push::exec_command(addr(), {"sh", "-c", "sleep 1; echo hi"}, 0,
                              [&](bool, std::span<const uint8_t> b) { out.append(b.begin(), b.end()); });
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(out, "hi\n");
}

// The node pipeline's push revokes the secret at the end: the agent stops,
// and the secret opens nothing afterwards.
TEST_F(FileOps, RevokeAtEndStopsTheAgent) {
  auto img = make_sparse_image(1 << 20, 5);
  write_file(path("img"), img);
  write_file(path("disk"), std::vector<uint8_t>(1 << 20));
  auto o = options(path("img"), path("disk"));
  o.revoke_at_end = true;
  auto r = push::push_image(o);
  EXPECT_TRUE(r.verified);
  for (int i = 0; i < 300 && !agent_->revoked(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(agent_->revoked());
  o.retries = 0;
  o.stall_timeout = std::chrono::seconds(2);
  EXPECT_ANY_THROW(push::exec_command(o.agent, {"true"}, 0, {}));
}
