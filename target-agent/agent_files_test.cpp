// pull / put / exec through the agent.
#include <sys/stat.h>

#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

class AgentFiles : public AgentTest {
 protected:
  void SetUp() override {
    files_root_ = dir_.path();
    allow_exec_ = true;
    start();
  }
};

TEST_F(AgentFiles, GetFileStreamsContentAndDigest) {
  auto content = random_bytes((1 << 20) * 2 + 17, 11);
  write_file(path("f"), content);
  auto ch = connect();
  ch->send(encode(GetFile{path("f")}));
  std::vector<uint8_t> got;
  for (;;) {
    Frame f = ch->recv();
    if (f.type == FrameType::kFileEnd) {
      auto end = decode<FileEnd>(f);
      EXPECT_EQ(end.size, content.size());
      EXPECT_EQ(end.digest, xxh3_128(content.data(), content.size()));
      break;
    }
    ASSERT_EQ(f.type, FrameType::kFileData);
    EXPECT_EQ(f.offset, got.size());
    got.insert(got.end(), f.payload.begin(), f.payload.end());
  }
  EXPECT_EQ(got, content);
  ch->send(encode(GetFile{path("missing")}));
  expect_error(*ch, ErrorCode::kNotFound);
}

TEST_F(AgentFiles, PutFileIsAtomicAndChecked) {
  auto content = random_bytes(1500000, 12);
  auto ch2 = connect();
  ch2->send(encode(PutFile{path("up"), content.size(), 0640}));
  for (size_t at = 0; at < content.size(); at += 1 << 20)
    ch2->send_raw(FrameType::kFileData, 0, at, std::span(content).subspan(at, std::min<size_t>(1 << 20, content.size() - at)));
  ch2->send(encode(FileEnd{content.size(), xxh3_128(content.data(), content.size())}));
  EXPECT_EQ(ch2->recv().type, FrameType::kFileDone);
  EXPECT_EQ(read_file(path("up")), content);
  struct stat st;
  ASSERT_EQ(::stat(path("up").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  // A wrong digest leaves the old file in place and no part file behind.
  ch2->send(encode(PutFile{path("up"), 3, 0644}));
  ch2->send_raw(FrameType::kFileData, 0, 0, std::vector<uint8_t>{1, 2, 3});
  ch2->send(encode(FileEnd{3, Digest128{}}));
  expect_error(*ch2, ErrorCode::kBadChecksum);
  EXPECT_EQ(read_file(path("up")), content);
  EXPECT_FALSE(std::filesystem::exists(path("up") + ".mkmaster-part"));
}

TEST_F(AgentFiles, ExecStreamsOutputAndExitStatus) {
  auto ch = connect();
  ch->send(encode(ExecMsg{{"sh", "-c", "echo out; echo err >&2; exit 3"}, 10}));
  std::string out, err;
  ExitMsg ex;
  for (;;) {
    Frame f = ch->recv();
    if (f.type == FrameType::kExit) {
      ex = decode<ExitMsg>(f);
      break;
    }
    ASSERT_EQ(f.type, FrameType::kOutput);
    (f.flags & kFlagStderr ? err : out).append(f.payload.begin(), f.payload.end());
  }
  EXPECT_EQ(out, "out\n");
  EXPECT_EQ(err, "err\n");
  EXPECT_EQ(ex.status, 3);
  EXPECT_FALSE(ex.signaled);
  ch->send(encode(ExecMsg{{"sleep", "30"}, 1}));
  Frame f = ch->recv();
  ex = decode<ExitMsg>(f);
  EXPECT_TRUE(ex.timed_out);
  EXPECT_TRUE(ex.signaled);
  ch->send(encode(ExecMsg{{"/nonexistent/program"}, 0}));
  expect_error(*ch, ErrorCode::kExec);
}
