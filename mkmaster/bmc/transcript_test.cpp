#include "mkmaster/bmc/transcript.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "mkmaster/bmc/pty_process.h"
#include "testing/temp_dir.h"

namespace bmc {

TEST(Transcript, TimestampedLinesWithSecretsMasked) {
  const mktest::TempDir dir("transcript");
  const std::string path = dir.file("transcript.log");
  {
    Transcript t(path);
    t.add_secret("0123456789abcdef");
    t.received("hello\r\nwor");
    t.received("ld 0123456789abcdef\n");
    t.sent("echo 0123456789abcdef\r");
    t.event("reconnect");
    t.received("(initrd) ");
    t.flush();
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  EXPECT_EQ(text.find("0123456789abcdef"), std::string::npos);
  const std::regex line(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [<>#] .*)");
  std::istringstream lines(text);
  std::vector<std::string> got;
  for (std::string l; std::getline(lines, l);) {
    EXPECT_TRUE(std::regex_match(l, line)) << l;
    got.push_back(l.substr(25));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"< hello", "< world ****", "> echo ****\\r", "# reconnect", "< (initrd) "}));
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u);
}

}  // namespace bmc

// Every umask(2) call of this test binary (and of the libraries linked into
// it) comes here first: the executable's definition wins over libc's.
static std::atomic<int> g_umask_calls{0};
extern "C" mode_t umask(mode_t mask) {
  ++g_umask_calls;
  return static_cast<mode_t>(::syscall(SYS_umask, mask));
}

namespace bmc {

TEST(Transcript, CreatedPrivateWithoutTouchingTheUmask) {
  // Other threads (other nodes) create files meanwhile: a umask toggled for
  // one open would apply to theirs too. The mode comes from open(2) alone.
  const mktest::TempDir dir("transcript-umask");
  const int before = g_umask_calls;
  { Transcript t(dir.file("t.log")); t.event("x"); }
  EXPECT_EQ(g_umask_calls - before, 0) << "Transcript changed the process-wide umask";
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("t.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(PtyProcess, RunsOnATerminal) {
  PtyProcess p({"sh", "-c", "[ -t 0 ] && echo tty-ok; read x; echo got-$x"}, {});
  std::string out;
  p.write("abc\n");
  for (int i = 0; i < 100 && out.find("got-abc") == std::string::npos; ++i) {
    auto c = p.read(std::chrono::milliseconds(50));
    if (!c) break;
    out += *c;
  }
  EXPECT_NE(out.find("tty-ok"), std::string::npos) << out;
  EXPECT_NE(out.find("got-abc"), std::string::npos) << out;
  // The shell ends by itself after its last echo; give it time to exit.
  for (int i = 0; i < 200 && !p.exited(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(p.exited());
  EXPECT_EQ(p.exit_code(), 0);
}

}  // namespace bmc
