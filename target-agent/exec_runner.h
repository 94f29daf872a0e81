#pragma once
// Runs an EXEC's child to its end on the agent (docs/protocol.md, "Files
// and commands"): its output goes to a sink as it arrives; a deadline, if
// any, holds even after the child closed its stdio; the host hanging up
// ends it too. The child leads its own process group (spawn's
// process_group), and the whole group is killed before the leader is
// reaped, so nothing it started survives the EXEC.
#include <chrono>
#include <optional>

#include "base/spawn.h"

namespace agent {

struct ExecOutcome {
  base::ExitStatus status;
  bool timed_out = false;  // the deadline came first: the group was killed
  bool peer_gone = false;  // peer_fd hung up first: the group was killed
};

// child: spawned with process_group. deadline: none = no limit. peer_fd:
// a connected socket watched for a hang-up (-1: none). Returns once the
// leader has exited and both output pipes are closed (or one of the above
// happened); the group is gone then.
ExecOutcome run_exec(base::Child& child, std::optional<std::chrono::steady_clock::time_point> deadline, int peer_fd,
                     const base::OutputSink& sink);

}  // namespace agent
