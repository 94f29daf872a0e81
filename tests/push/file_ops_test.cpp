// pull / put / exec through push's client against a native agent.
#include "mkmaster/push/file_ops.h"
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
