#pragma once
// The bash completion script, generated from the CLI11 definitions (as
// the man pages are): subcommands, each one's options, files after an
// option that takes a value, and node names for the node arguments, read
// at completion time from `mkmaster inventory --json` with the command
// line's --inventory/-i (or $MKMASTER_INVENTORY).
#include <CLI/CLI.hpp>

#include <string>

namespace cli {

std::string bash_completion(const CLI::App& top);

}  // namespace cli
