#pragma once
// Runs a program to completion (argv, no shell) with extra environment
// variables, collecting its stdout+stderr within a timeout: a BMC command.
#include <chrono>
#include <string>
#include <vector>

#include "base/spawn.h"

namespace base {

struct ProcessResult {
  int exit_code = -1;      // -1 if killed by a signal or timed out
  bool timed_out = false;
  bool spawn_failed = false;
  std::string output;      // stdout and stderr interleaved; the reason if spawn_failed
};

// stdin is /dev/null. At the timeout the child is killed (SIGKILL). The
// child dies with us (die_with_parent) and has its own process group.
ProcessResult run_process(const std::vector<std::string>& argv, const EnvVars& extra_env,
                          std::chrono::milliseconds timeout);

}  // namespace base
