#include "base/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

namespace base {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFd, ClosesOnDestruction) {
  int raw = -1;
  {
    UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    raw = fd.get();
    ASSERT_TRUE(fd);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, MoveTransfersOwnership) {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int raw = a.get();
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a);
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
  c = UniqueFd();
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, ReleaseKeepsTheDescriptorOpen) {
  UniqueFd a(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int raw = a.release();
  EXPECT_FALSE(a);
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(UniqueFd, PipeEndsAreCloseOnExecAndConnected) {
  Pipe p = make_pipe();
  EXPECT_TRUE(::fcntl(p.read.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(::fcntl(p.write.get(), F_GETFD) & FD_CLOEXEC);
  ASSERT_EQ(::write(p.write.get(), "x", 1), 1);
  p.write.reset();
  char c = 0;
  EXPECT_EQ(::read(p.read.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(::read(p.read.get(), &c, 1), 0);
}

}  // namespace
}  // namespace base
