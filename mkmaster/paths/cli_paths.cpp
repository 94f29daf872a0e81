// mkmaster paths: which data directory, target-agent and cache this
// mkmaster uses, and how it found them (paths.h). The first thing to run
// when an installed or relocated mkmaster does not find its files.
#include <fmt/core.h>

#include <filesystem>

#include "mkmaster/cli/commands.h"
#include "mkmaster/paths/paths.h"

void cli::add_paths(CLI::App& app) {
  auto* sub = app.add_subcommand("paths", "show the data directory, target-agent and cache this mkmaster uses");
  sub->callback([] {
    const auto& l = paths::layout();
    std::error_code ec;
    const bool agent_ok = std::filesystem::is_regular_file(l.agent, ec);
    fmt::print("data-dir  {}\t({})\n", l.data.string(), l.found_by);
    fmt::print("agent     {}{}\n", l.agent.string(), agent_ok ? "" : "\t(missing: build the host preset or pass --agent)");
    fmt::print("cache     {}\n", paths::cache_dir().string());
  });
}
