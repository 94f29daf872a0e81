#pragma once
// A pseudo-terminal pair, for programs that want a tty (ipmitool's SOL
// console) and for relaying one interactively.
#include "base/unique_fd.h"

namespace base {

struct TerminalSize {
  unsigned short rows = 24, cols = 80;
};

struct Pty {
  UniqueFd master;  // our side: what the program writes is read here
  UniqueFd slave;   // the program's terminal
};

// Both ends close-on-exec and not our controlling terminal. Throws
// std::system_error.
Pty open_pty(TerminalSize size = {});

}  // namespace base
