#include "base/subprocess.h"

namespace base {

ProcessResult run_process(const std::vector<std::string>& argv, const EnvVars& extra_env,
                          std::chrono::milliseconds timeout) {
  ProcessResult result;
  SpawnOptions opt(argv, extra_env);
  opt.err = Stdio::kStdout;
  // Synchronous, so the spawning thread outlives the child: it may die with
  // us. In its own group, a Ctrl-C meant for mkmaster does not kill a BMC
  // command half way; mkmaster's cleanup decides.
  opt.die_with_parent = true;
  opt.process_group = true;
  Child child;
  try {
    child = spawn(opt);
  } catch (const std::exception& e) {
    result.spawn_failed = true;
    result.output = e.what();
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  result.timed_out = !read_output(child, deadline, [&](int, std::string_view bytes) { result.output += bytes; });
  child.out.reset();
  const ExitStatus status = child.wait();
  if (!result.timed_out) result.exit_code = status.code;
  return result;
}

}  // namespace base
