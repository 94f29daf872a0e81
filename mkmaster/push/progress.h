#pragma once
// How a push reports itself: a progress bar (bytes, MB/s, ETA) on a TTY,
// JSON lines for CI (--json), and the final summary.
#include <cstdio>
#include <string>

#include "mkmaster/push/push.h"

namespace push {

class ProgressPrinter {
 public:
  // json: one JSON object per line on `out`; else a bar on stderr when it is
  // a terminal (and nothing between start and summary otherwise).
  ProgressPrinter(bool json, std::FILE* out = stdout);
  void operator()(const Progress& p);
  void summary(const PushResult& r);
  // JSON event for a failed push (the error message is printed by main).
  void failure(const std::string& what);

 private:
  bool json_, tty_;
  std::FILE* out_;
  bool bar_shown_ = false;
};

}  // namespace push
