#pragma once
// Files and commands through the agent (replacing busybox httpd + wget on
// the node): docs/protocol.md, "Files and commands".
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "mkmaster/push/agent_client.h"

namespace push {

// Copies REMOTE on the node to LOCAL (written atomically: LOCAL.part, then
// rename). Returns the size. Throws with the remote error (not-found, io).
uint64_t pull_file(const AgentAddress& agent, const std::string& remote, const std::string& local);

// Copies LOCAL to REMOTE on the node (mode of the local file).
uint64_t put_file(const AgentAddress& agent, const std::string& local, const std::string& remote);

struct ExecResult {
  int status = 0;
  bool signaled = false;
  bool timed_out = false;
  // The shell-style exit code: status, or 128+signal.
  int exit_code() const { return signaled ? 128 + status : status; }
};

// Runs argv on the node; output is passed to on_output as it arrives
// (is_stderr tells which stream).
ExecResult exec_command(const AgentAddress& agent, const std::vector<std::string>& argv, uint32_t timeout_s,
                        const std::function<void(bool is_stderr, std::span<const uint8_t>)>& on_output);

}  // namespace push
