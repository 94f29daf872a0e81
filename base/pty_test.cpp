#include "base/pty.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

namespace base {
namespace {

TEST(Pty, OpensAConnectedPairOfTheGivenSize) {
  Pty p = open_pty({40, 120});
  EXPECT_TRUE(::isatty(p.slave.get()));
  EXPECT_TRUE(::fcntl(p.master.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(p.slave.get(), F_GETFD) & FD_CLOEXEC);
  struct winsize ws {};
  ASSERT_EQ(::ioctl(p.slave.get(), TIOCGWINSZ, &ws), 0);
  EXPECT_EQ(ws.ws_row, 40);
  EXPECT_EQ(ws.ws_col, 120);
  ASSERT_EQ(::write(p.master.get(), "hi\n", 3), 3);
  char buf[8];
  EXPECT_EQ(::read(p.slave.get(), buf, sizeof buf), 3);  // canonical mode: one line
  EXPECT_EQ(std::string(buf, 3), "hi\n");
}

}  // namespace
}  // namespace base
