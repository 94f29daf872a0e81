#pragma once
// Manual pages generated from the CLI11 definitions that also print
// --help, so the two cannot drift: mkmaster(1) (global options, the
// command list, FILES, ENVIRONMENT, EXIT STATUS) and mkmaster-<command>(1)
// for every visible subcommand. Hidden subcommands and options (group "")
// are left out, as --help leaves them out.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace cli {

struct ManPage {
  std::string file;  // "mkmaster.1", "mkmaster-build.1"
  std::string text;  // roff (man macros)
};

std::vector<ManPage> man_pages(const CLI::App& top, const std::string& version);

// Text made safe for roff: backslashes, a leading '.' or '\'', and '-'
// (so "--out" is not typeset as dashes and can be searched for).
std::string roff_escape(const std::string& s);

}  // namespace cli
