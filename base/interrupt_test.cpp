#include "base/interrupt.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

namespace base {
namespace {

TEST(Interrupt, TheFirstSignalIsRecordedNotFatal) {
  install_interrupt_handlers();
  clear_interrupt();
  EXPECT_EQ(interrupt_signal(), 0);
  EXPECT_NO_THROW(check_interrupt());
  ::raise(SIGTERM);
  EXPECT_EQ(interrupt_signal(), SIGTERM);
  try {
    check_interrupt();
    FAIL() << "no Interrupted";
  } catch (const Interrupted& i) {
    EXPECT_EQ(i.signal, SIGTERM);
  }
  clear_interrupt();
  EXPECT_EQ(interrupt_signal(), 0);
  EXPECT_STREQ(signal_name(SIGINT), "SIGINT");
}

TEST(Interrupt, ASecondSignalExitsAtOnce) {
  EXPECT_EXIT(
      {
        install_interrupt_handlers();
        clear_interrupt();
        ::raise(SIGINT);
        ::raise(SIGINT);
        ::sleep(5);  // not reached
        ::_exit(0);
      },
      ::testing::ExitedWithCode(130), "second signal: exiting without cleanup");
  EXPECT_EXIT(
      {
        install_interrupt_handlers();
        clear_interrupt();
        ::raise(SIGTERM);
        ::raise(SIGINT);
        ::_exit(0);
      },
      ::testing::ExitedWithCode(130), "");
}

}  // namespace
}  // namespace base
