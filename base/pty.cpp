#include "base/pty.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace base {

namespace {
[[noreturn]] void fail(const char* what) { throw std::system_error(errno, std::generic_category(), what); }
}  // namespace

// posix_openpt rather than openpty: every descriptor is close-on-exec from
// the start, so a child another thread spawns meanwhile inherits none.
Pty open_pty(TerminalSize size) {
  Pty p;
  p.master.reset(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.master) fail("posix_openpt");
  if (::grantpt(p.master.get()) != 0) fail("grantpt");
  if (::unlockpt(p.master.get()) != 0) fail("unlockpt");
  char name[128];
  if (::ptsname_r(p.master.get(), name, sizeof name) != 0) fail("ptsname");
  p.slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!p.slave) fail(name);
  struct winsize ws {};
  ws.ws_row = size.rows;
  ws.ws_col = size.cols;
  if (::ioctl(p.slave.get(), TIOCSWINSZ, &ws) != 0) fail("TIOCSWINSZ");
  return p;
}

}  // namespace base
