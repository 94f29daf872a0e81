// mkmaster pull REMOTE LOCAL: a file from the node through target-agent.
#include <fmt/core.h>

#include "mkmaster/cli/commands.h"
#include "mkmaster/push/cli_agent_options.h"
#include "mkmaster/push/file_ops.h"

void cli::add_pull(CLI::App& app) {
  auto remote = std::make_shared<std::string>(), local = std::make_shared<std::string>();
  auto agent = std::make_shared<push::AgentOptions>();
  auto* sub = app.add_subcommand("pull", "copy a file from the node through target-agent");
  sub->add_option("REMOTE", *remote, "path on the node")->required();
  sub->add_option("LOCAL", *local, "local path")->required();
  agent->add_to(sub);
  sub->callback([=] {
    uint64_t n = push::pull_file(agent->address(), *remote, *local);
    fmt::print("pulled {} ({} bytes) to {}\n", *remote, n, *local);
  });
}
