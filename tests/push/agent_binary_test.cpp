// The target-agent executable itself: secret on stdin (never argv),
// numeric listen address, refusal of a bad address, a push through it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "testing/push_fixture.h"

using namespace mktest;

TEST(AgentBinary, SecretOnStdinThenPush) {
  TempDir dir("agent-bin");
  int probe = mkproto::tcp_listen("127.0.0.1:0");
  std::string addr = mkproto::local_address(probe);
  ::close(probe);
  int in[2];
  ASSERT_EQ(::pipe(in), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::close(in[1]);
    ::execl(TARGET_AGENT_BIN, "target-agent", "serve", "--listen", addr.c_str(), "--secret-file", "-",
            "--allow-file", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  const std::string secret = "console-typed secret 1234\n";
  ASSERT_EQ(::write(in[1], secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));  // stdin stays open, like a tty
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    try {
      ::close(mkproto::tcp_connect(addr, std::chrono::milliseconds(100)));
      up = true;
    } catch (const std::exception&) {
      ::usleep(50000);
    }
  }
  auto image = make_sparse_image(3 << 20, 41);
  write_file((dir / "img").string(), image);
  write_file((dir / "disk").string(), std::vector<uint8_t>(image.size(), 1));
  push::PushResult r;
  std::string error;
  if (up) {
    push::PushOptions o;
    o.image = (dir / "img").string();
    o.agent.agent = addr;
    o.agent.key = mkproto::derive_key(secret);
    o.target = (dir / "disk").string();
    try {
      r = push::push_image(o);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(in[1]);
  ASSERT_TRUE(up) << "target-agent did not listen on " << addr;
  EXPECT_EQ(error, "");
  EXPECT_TRUE(r.verified);
  EXPECT_EQ(read_file((dir / "disk").string()), image);
}

TEST(AgentBinary, RefusesNamesAndMissingSecret) {
  std::string cmd = std::string(TARGET_AGENT_BIN) + " serve --listen localhost:7000 --secret-file /dev/null 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[512] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, p);
  int rc = ::pclose(p);
  std::string out(buf, n);
  EXPECT_NE(rc, 0);
  // The secret is checked first: /dev/null is empty.
  EXPECT_NE(out.find("secret file /dev/null"), std::string::npos) << out;
  TempDir dir("agent-bin");
  write_file(dir.file("s"), std::string("0123456789abcdef"));
  cmd = std::string(TARGET_AGENT_BIN) + " serve --listen localhost:7000 --secret-file " + (dir / "s").string() + " 2>&1";
  p = ::popen(cmd.c_str(), "r");
  n = std::fread(buf, 1, sizeof buf - 1, p);
  rc = ::pclose(p);
  out.assign(buf, n);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("not a numeric IPv4 address"), std::string::npos) << out;
}
