#pragma once
// How `mkmaster push` with several agents reports: a progress line per node
// on a TTY (stderr), JSON lines with --json, and a summary naming every
// node (bytes, MB/s, verify, time; or the step and reason it failed).
#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include "mkmaster/push/relay_push.h"

namespace push {

class RelayPrinter {
 public:
  RelayPrinter(bool json, size_t nodes, std::FILE* out = stdout);
  void operator()(size_t node, const Progress& p);  // thread-safe
  void summary(const RelayResult& r);
  // 0 every node holds the image, kExitSomeNodesFailed some, 1 none.
  static int exit_status(const RelayResult& r);

 private:
  bool json_, tty_;
  std::FILE* out_;
  std::mutex m_;
  std::vector<std::chrono::steady_clock::time_point> last_;
};

}  // namespace push
