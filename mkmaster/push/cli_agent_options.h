#pragma once
// --agent / --secret-file, shared by push, pull, put and exec.
#include <CLI/CLI.hpp>

#include <string>

#include "mkmaster/push/agent_client.h"

namespace push {

struct AgentOptions {
  std::string agent;
  std::string secret_file;
  void add_to(CLI::App* sub, bool required = true) {
    auto* a = sub->add_option("--agent", agent, "the target-agent's HOST:PORT");
    auto* s = sub->add_option("--secret-file", secret_file, "file holding the agent's session secret");
    if (required) {
      a->required();
      s->required();
    }
  }
  AgentAddress address() const {
    AgentAddress a;
    a.agent = agent;
    a.key = load_secret(secret_file);
    return a;
  }
};

}  // namespace push
