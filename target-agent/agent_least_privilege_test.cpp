// What the agent offers and where its file operations may reach: nothing
// without --allow-exec / --files-root, nothing outside the root, no link
// followed, no FIFO held open, no setuid mode, no oversize file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "target-agent/files_root.h"
#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;

class PrivilegeTest : public AgentTest {
 protected:
  // The agent's message for a request (the ERROR it answers with), checked
  // for the code.
  std::string refusal(Channel& ch, const Frame& request, ErrorCode code) {
    ch.send(request);
    return expect_error(ch, code).message;
  }
};

class AgentOffers : public PrivilegeTest {};

TEST_F(AgentOffers, ExecAndFilesAreRefusedUnlessOffered) {
  write_file(path("f"), std::vector<uint8_t>{1, 2, 3});
  auto ch = connect();
  EXPECT_NE(refusal(*ch, encode(ExecMsg{{"true"}, 0}), ErrorCode::kNotOffered).find("--allow-exec"),
            std::string::npos);
  ch = connect();
  EXPECT_NE(refusal(*ch, encode(GetFile{path("f")}), ErrorCode::kNotOffered).find("--files-root"),
            std::string::npos);
  ch = connect();
  EXPECT_NE(refusal(*ch, encode(PutFile{path("g"), 1, 0644}), ErrorCode::kNotOffered).find("--files-root"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path("g")));
}

class AgentFilesRoot : public PrivilegeTest {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(root());
    std::filesystem::create_directories(path("outside"));
    write_file(path("outside/secret"), std::vector<uint8_t>{'s'});
    files_root_ = root();
    start();
  }
  std::string root() const { return path("root"); }
  // PUT of `content` to `remote`: FILE_DONE, or the ERROR's message (code checked).
  std::string put(const std::string& remote, const std::vector<uint8_t>& content, uint32_t mode, ErrorCode code) {
    auto ch = connect();
    ch->send(encode(PutFile{remote, content.size(), mode}));
    if (code == ErrorCode::kNone) {
      ch->send_raw(FrameType::kFileData, 0, 0, content);
      ch->send(encode(FileEnd{content.size(), xxh3_128(content.data(), content.size())}));
      Frame f = ch->recv();
      EXPECT_EQ(f.type, FrameType::kFileDone) << type_name(f.type);
      return "";
    }
    return expect_error(*ch, code).message;
  }
  // Everything outside the root is as SetUp left it.
  void expect_outside_untouched() {
    EXPECT_EQ(read_file(path("outside/secret")), std::vector<uint8_t>{'s'});
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(path("outside"))) n += e.path().filename() != "" ? 1 : 0;
    EXPECT_EQ(n, 1u) << "a file appeared outside the root";
  }
};

TEST_F(AgentFilesRoot, RelativeAndAbsolutePathsBeneathTheRootWork) {
  std::filesystem::create_directories(root() + "/sub");
  EXPECT_EQ(put("sub/a", {1, 2}, 0640, ErrorCode::kNone), "");
  EXPECT_EQ(read_file(root() + "/sub/a"), (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(put(root() + "/b", {3}, 0600, ErrorCode::kNone), "");
  EXPECT_EQ(read_file(root() + "/b"), std::vector<uint8_t>{3});
  auto ch = connect();
  ch->send(encode(GetFile{"sub/a"}));
  ASSERT_EQ(ch->recv().type, FrameType::kFileData);
  auto end = decode<FileEnd>(ch->recv());
  EXPECT_EQ(end.size, 2u);
  EXPECT_EQ(end.mode, 0640u);  // what pull gives its copy
}

TEST_F(AgentFilesRoot, EachEscapeIsRefusedWithItsOwnMessage) {
  std::set<std::string> messages;
  auto m = put("../outside/new", {1}, 0644, ErrorCode::kPathRefused);
  EXPECT_NE(m.find("'..'"), std::string::npos) << m;
  messages.insert(m);
  m = put(path("outside/new"), {1}, 0644, ErrorCode::kPathRefused);
  EXPECT_NE(m.find("absolute path outside the files root"), std::string::npos) << m;
  messages.insert(m);
  // A symlinked directory on the way out.
  ASSERT_EQ(::symlink(path("outside").c_str(), (root() + "/door").c_str()), 0);
  // (Under qemu-arm-static, the armhf tests, this goes through the walk:
  // openat2 fails its probe there, and the walk names the link too.)
  m = put("door/new", {1}, 0644, ErrorCode::kPathRefused);
  EXPECT_NE(m.find("symbolic link on the path"), std::string::npos) << m;
  messages.insert(m);
  // A symlink as the final name.
  ASSERT_EQ(::symlink(path("outside/secret").c_str(), (root() + "/final").c_str()), 0);
  m = put("final", {1}, 0644, ErrorCode::kPathRefused);
  EXPECT_NE(m.find("final is a symbolic link"), std::string::npos) << m;
  messages.insert(m);
  // A symlink planted at the temporary name (the v1 attack).
  ASSERT_EQ(::symlink(path("outside/secret").c_str(), (root() + "/t.mkmaster-part").c_str()), 0);
  m = put("t", {1}, 0644, ErrorCode::kPathRefused);
  EXPECT_NE(m.find("temporary name"), std::string::npos) << m;
  messages.insert(m);
  // setuid and oversize.
  m = put("suid", {1}, 04755, ErrorCode::kNotAllowed);
  EXPECT_NE(m.find("setuid"), std::string::npos) << m;
  messages.insert(m);
  {
    auto ch = connect();
    ch->send(encode(PutFile{"huge", (256ull << 20) + 1, 0644}));
    m = expect_error(*ch, ErrorCode::kBadRequest).message;
    EXPECT_NE(m.find("--max-file-size"), std::string::npos) << m;
    messages.insert(m);
  }
  // Reading through a link or out of the root is refused the same way.
  auto ch = connect();
  m = refusal(*ch, encode(GetFile{"final"}), ErrorCode::kPathRefused);
  EXPECT_NE(m.find("symbolic link on the path"), std::string::npos) << m;
  ch = connect();
  refusal(*ch, encode(GetFile{"door/secret"}), ErrorCode::kPathRefused);
  ch = connect();
  refusal(*ch, encode(GetFile{"../outside/secret"}), ErrorCode::kPathRefused);
  EXPECT_EQ(messages.size(), 7u) << "two escapes share a message";
  expect_outside_untouched();
  EXPECT_FALSE(std::filesystem::exists(root() + "/suid"));
  EXPECT_TRUE(std::filesystem::is_symlink(root() + "/final"));
  EXPECT_TRUE(std::filesystem::is_symlink(root() + "/t.mkmaster-part"));
}

TEST_F(AgentFilesRoot, GetFileOfAFifoIsRefusedAtOnce) {
  ASSERT_EQ(::mkfifo((root() + "/fifo").c_str(), 0644), 0);
  auto ch = connect();
  const auto t0 = std::chrono::steady_clock::now();
  auto m = refusal(*ch, encode(GetFile{"fifo"}), ErrorCode::kNotAllowed);
  EXPECT_NE(m.find("a FIFO"), std::string::npos) << m;
  // Not held until a writer appears (that would be forever here).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(20));
  ch = connect();
  m = refusal(*ch, encode(GetFile{"."}), ErrorCode::kBadRequest);
  EXPECT_NE(m.find("files root itself"), std::string::npos) << m;
}

// The fallback for kernels (and qemu-user) without openat2: the same
// refusals from the component walk.
TEST(FilesRootWalk, RefusesLinksLikeOpenat2) {
  TempDir d("files-root-walk");
  std::filesystem::create_directories(d.file("r/sub"));
  write_file(d.file("r/sub/ok"), std::vector<uint8_t>{1});
  ASSERT_EQ(::symlink(d.path().c_str(), d.file("r/up").c_str()), 0);
  ASSERT_EQ(::symlink("ok", d.file("r/sub/link").c_str()), 0);
  for (bool openat2 : {true, false}) {
    SCOPED_TRACE(openat2 ? "openat2" : "walk");
    agent::FilesRoot root(d.file("r"), openat2);
    EXPECT_TRUE(root.open("sub/ok", root.relative("sub/ok"), O_RDONLY));
    for (const char* p : {"up/r/sub/ok", "sub/link"}) {
      try {
        root.open(p, root.relative(p), O_RDONLY);
        ADD_FAILURE() << p << " opened";
      } catch (const ProtocolError& e) {
        EXPECT_EQ(e.code, ErrorCode::kPathRefused) << p << ": " << e.what();
      }
    }
    // A linked directory opened as the directory itself (PUT_FILE opens the
    // parent this way) is named as a link, not "Not a directory".
    try {
      root.open("up", root.relative("up"), O_RDONLY | O_DIRECTORY);
      ADD_FAILURE() << "up opened";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.code, ErrorCode::kPathRefused) << e.what();
      EXPECT_NE(std::string(e.what()).find("symbolic link on the path"), std::string::npos) << e.what();
    }
  }
}

// openat2 is used only where it answers the probe right: on this kernel it
// does natively; under qemu-user 7.2 (the armhf tests) it does not.
TEST(FilesRootWalk, Openat2IsUsedOnlyWhereItAnswersRight) {
  const char* emulated = std::getenv("QEMU_CPU");  // set for the armhf tests' qemu-arm-static
  if (emulated) EXPECT_FALSE(agent::openat2_is_usable()) << "qemu-user answered openat2's probe right: drop the walk?";
  else EXPECT_TRUE(agent::openat2_is_usable()) << "this kernel has openat2 (5.6+), yet the probe failed";
}
