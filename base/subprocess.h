#pragma once
// Runs a program (argv, no shell) with extra environment variables, collects
// its stdout+stderr and enforces a timeout. Extra variables exist only in the
// child's environment: that is how BMC passwords reach ipmitool (-E).
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace base {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

struct ProcessResult {
  int exit_code = -1;      // -1 if killed by a signal or timed out
  bool timed_out = false;
  bool spawn_failed = false;
  std::string output;      // stdout and stderr interleaved
};

ProcessResult run_process(const std::vector<std::string>& argv, const EnvVars& extra_env,
                          std::chrono::milliseconds timeout);

// The current environment plus (overriding) extra: for execve/forkpty.
std::vector<std::string> child_environment(const EnvVars& extra);

}  // namespace base
