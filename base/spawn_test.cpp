#include "base/spawn.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace base {
namespace {

using namespace std::chrono_literals;

struct Output {
  std::string out, err;
};

Output collect(Child& c, std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt) {
  Output o;
  read_output(c, deadline, [&](int stream, std::string_view bytes) { (stream == 1 ? o.out : o.err) += bytes; });
  return o;
}

TEST(Spawn, PipesStdoutAndStderrSeparately) {
  Child c = spawn(SpawnOptions({"sh", "-c", "echo out; echo err >&2; exit 3"}));
  const Output o = collect(c);
  EXPECT_EQ(o.out, "out\n");
  EXPECT_EQ(o.err, "err\n");
  const ExitStatus s = c.wait();
  EXPECT_EQ(s.code, 3);
  EXPECT_EQ(s.signal, 0);
}

TEST(Spawn, StderrIntoStdout) {
  SpawnOptions o({"sh", "-c", "echo a; echo b >&2"});
  o.err = Stdio::kStdout;
  Child c = spawn(o);
  EXPECT_FALSE(c.err);
  EXPECT_EQ(collect(c).out, "a\nb\n");
}

TEST(Spawn, StdinIsNullUnlessPiped) {
  Child c = spawn(SpawnOptions({"sh", "-c", "cat; echo end"}));
  EXPECT_FALSE(c.in);
  EXPECT_EQ(collect(c).out, "end\n");

  SpawnOptions o({"cat"});
  o.in = Stdio::kPipe;
  o.err = Stdio::kNull;
  Child p = spawn(o);
  ASSERT_EQ(::write(p.in.get(), "fed", 3), 3);
  p.in.reset();
  EXPECT_EQ(collect(p).out, "fed");
  EXPECT_EQ(p.wait().code, 0);
}

TEST(Spawn, ExtraEnvironmentOnlyInTheChild) {
  ::setenv("BASE_SPAWN_KEEP", "kept", 1);
  ::setenv("BASE_SPAWN_OVERRIDE", "ours", 1);
  Child c = spawn(SpawnOptions({"sh", "-c", "echo $BASE_SPAWN_KEEP $BASE_SPAWN_OVERRIDE $BASE_SPAWN_NEW"},
                               {{"BASE_SPAWN_OVERRIDE", "theirs"}, {"BASE_SPAWN_NEW", "new"}}));
  EXPECT_EQ(collect(c).out, "kept theirs new\n");
  EXPECT_STREQ(std::getenv("BASE_SPAWN_OVERRIDE"), "ours");
  EXPECT_EQ(std::getenv("BASE_SPAWN_NEW"), nullptr);
  ::unsetenv("BASE_SPAWN_KEEP");
  ::unsetenv("BASE_SPAWN_OVERRIDE");
}

TEST(Spawn, WorkingDirectory) {
  SpawnOptions o({"pwd"});
  o.dir = "/";
  Child c = spawn(o);
  EXPECT_EQ(collect(c).out, "/\n");
  o.dir = "/nonexistent/dir";
  EXPECT_THROW(spawn(o), SpawnError);
}

TEST(Spawn, MissingProgramIsASpawnError) {
  try {
    spawn(SpawnOptions({"base-spawn-test-no-such-program"}));
    FAIL() << "spawned";
  } catch (const SpawnError& e) {
    EXPECT_STREQ(e.what(), "cannot run base-spawn-test-no-such-program: not found in PATH");
  }
  EXPECT_THROW(spawn(SpawnOptions({"/nonexistent/tool"})), SpawnError);
  EXPECT_THROW(spawn(SpawnOptions({"/dev/null"})), SpawnError);  // not executable
  EXPECT_THROW(spawn(SpawnOptions({})), SpawnError);
}

TEST(Spawn, FindProgramSearchesPath) {
  EXPECT_EQ(find_program("/bin/sh"), "/bin/sh");
  const std::string sh = find_program("sh");
  EXPECT_EQ(sh.substr(sh.size() - 3), "/sh");
  EXPECT_EQ(::access(sh.c_str(), X_OK), 0);
}

TEST(Spawn, DeadlineKillsTheChild) {
  Child c = spawn(SpawnOptions({"sleep", "30"}));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(read_output(c, t0 + 200ms, [](int, std::string_view) {}));
  const ExitStatus s = c.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
  EXPECT_EQ(s.code, -1);
  EXPECT_EQ(s.signal, SIGKILL);
}

TEST(Spawn, DeadlineHoldsAgainstEndlessOutput) {
  Child c = spawn(SpawnOptions({"yes"}));
  size_t got = 0;
  EXPECT_FALSE(read_output(c, std::chrono::steady_clock::now() + 300ms, [&](int, std::string_view b) { got += b.size(); }));
  EXPECT_GT(got, 0u);
}

TEST(Spawn, TerminateEndsAndReaps) {
  Child c = spawn(SpawnOptions({"sleep", "30"}));
  EXPECT_EQ(c.try_wait(), std::nullopt);
  const ExitStatus s = c.terminate(5s);
  EXPECT_EQ(s.signal, SIGTERM);
  ASSERT_TRUE(c.try_wait());
  EXPECT_EQ(c.try_wait()->signal, SIGTERM);
}

TEST(Spawn, TerminateEscalatesToKill) {
  Child c = spawn(SpawnOptions({"sh", "-c", "trap '' TERM; echo ready; sleep 30"}));
  char buf[8];
  ASSERT_GT(::read(c.out.get(), buf, sizeof buf), 0);  // the trap is set
  EXPECT_EQ(c.terminate(200ms).signal, SIGKILL);
}

TEST(Spawn, DestructionKillsARunningChild) {
  pid_t pid = -1;
  {
    Child c = spawn(SpawnOptions({"sleep", "30"}));
    pid = c.pid();
    Child moved = std::move(c);
    EXPECT_EQ(c.pid(), -1);
  }
  EXPECT_NE(::kill(pid, 0), 0);  // reaped: no such process
}

TEST(Spawn, PtyIsTheControllingTerminal) {
  SpawnOptions o({"sh", "-c", "[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo tty; stty size"});
  o.pty = TerminalSize{30, 100};
  Child c = spawn(o);
  ASSERT_TRUE(c.terminal);
  EXPECT_FALSE(c.out);
  std::string text;
  char buf[256];
  for (;;) {
    pollfd p{c.terminal.get(), POLLIN, 0};
    ASSERT_GT(::poll(&p, 1, 10000), 0) << text;
    const ssize_t n = ::read(c.terminal.get(), buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child's side is closed
    text.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(text, "tty\r\n30 100\r\n");
  EXPECT_EQ(c.wait().code, 0);
}

TEST(Spawn, ChildEnvironmentOverrides) {
  ::setenv("BASE_SPAWN_ENV", "old", 1);
  const auto env = child_environment({{"BASE_SPAWN_ENV", "new"}});
  int seen = 0;
  for (const auto& e : env) {
    if (e.rfind("BASE_SPAWN_ENV=", 0) == 0) {
      ++seen;
      EXPECT_EQ(e, "BASE_SPAWN_ENV=new");
    }
  }
  EXPECT_EQ(seen, 1);
  ::unsetenv("BASE_SPAWN_ENV");
}

// Is pid a live process (not gone, not a zombie)?
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

// A process that spawns `sleep 30` with `die_with` and is then SIGKILLed
// (as after a second Ctrl-C, nothing of ours runs): is the sleep still alive?
bool survives_parent_kill(bool die_with) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t helper = ::fork();
  if (helper == 0) {
    ::close(fds[0]);
    SpawnOptions o({"sleep", "30"});
    o.out = o.err = Stdio::kNull;
    o.die_with_parent = die_with;
    o.process_group = true;
    Child c = spawn(o);
    const pid_t p = c.pid();
    (void)!::write(fds[1], &p, sizeof p);
    ::pause();
    ::_exit(0);
  }
  ::close(fds[1]);
  pid_t child = -1;
  EXPECT_EQ(::read(fds[0], &child, sizeof child), static_cast<ssize_t>(sizeof child));
  ::close(fds[0]);
  ::kill(helper, SIGKILL);
  ::waitpid(helper, nullptr, 0);
  bool still = true;
  for (int i = 0; i < 200 && (still = alive(child)); ++i) std::this_thread::sleep_for(10ms);  // <= 2 s
  if (still) ::kill(child, SIGKILL);  // not ours to leave behind either way
  return still;
}

TEST(Spawn, DieWithParentEndsTheChildWhenWeAreKilled) {
  EXPECT_FALSE(survives_parent_kill(true));
  // The control: without it the child outlives its parent.
  EXPECT_TRUE(survives_parent_kill(false));
}

TEST(Spawn, OwnProcessGroup) {
  SpawnOptions o({"sh", "-c", "ps -o pgid= -p $$"});
  o.process_group = true;
  Child c = spawn(o);
  const pid_t pid = c.pid();
  const Output out = collect(c);
  c.wait();
  EXPECT_EQ(std::atoi(out.out.c_str()), pid);
}

}  // namespace
}  // namespace base
