// mkmaster exec --agent … -- CMD…: run a command on the node; its output is
// streamed back and its exit status becomes ours.
#include <unistd.h>

#include <fmt/core.h>

#include "mkmaster/cli/commands.h"
#include "mkmaster/push/cli_agent_options.h"
#include "mkmaster/push/file_ops.h"

void cli::add_exec(CLI::App& app) {
  auto argv = std::make_shared<std::vector<std::string>>();
  auto agent = std::make_shared<push::AgentOptions>();
  auto timeout = std::make_shared<uint32_t>(0);
  auto* sub = app.add_subcommand("exec", "run a command on the node through target-agent");
  agent->add_to(sub);
  sub->add_option("--timeout", *timeout, "kill the command after this many seconds (0: never)");
  sub->add_option("CMD", *argv, "command and arguments (after --)")->required();
  sub->callback([=] {
    auto r = push::exec_command(agent->address(), *argv, *timeout, [](bool err, std::span<const uint8_t> b) {
      int fd = err ? 2 : 1;
      for (size_t done = 0; done < b.size();) {
        ssize_t n = ::write(fd, b.data() + done, b.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
    });
    if (r.timed_out) fmt::print(stderr, "mkmaster: exec: {} killed after {} s\n", (*argv)[0], *timeout);
    if (r.exit_code() != 0) throw cli::Exit{r.exit_code()};
  });
}
