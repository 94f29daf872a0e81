// mkmaster put LOCAL REMOTE: a file to the node through target-agent.
#include <fmt/core.h>

#include "mkmaster/cli/commands.h"
#include "mkmaster/push/cli_agent_options.h"
#include "mkmaster/push/file_ops.h"

void cli::add_put(CLI::App& app) {
  auto remote = std::make_shared<std::string>(), local = std::make_shared<std::string>();
  auto agent = std::make_shared<push::AgentOptions>();
  auto* sub = app.add_subcommand("put", "copy a file to the node through target-agent");
  sub->add_option("LOCAL", *local, "local file")->required()->check(CLI::ExistingFile);
  sub->add_option("REMOTE", *remote, "path on the node")->required();
  agent->add_to(sub);
  sub->callback([=] {
    uint64_t n = push::put_file(agent->address(), *local, *remote);
    fmt::print("put {} ({} bytes) to {}\n", *local, n, *remote);
  });
}
