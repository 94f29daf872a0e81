// mkmaster: builds the Highbank netboot master image and flashes nodes.
// This file only lists the subcommands, parses, and maps failures to exit
// codes; each command lives with its concern (mkmaster/cli/commands.h).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <exception>

#include "mkmaster/cli/commands.h"
#include "mkmaster/paths/paths.h"
#include "protocol/version.h"

namespace {

struct Command {
  void (*add)(CLI::App& app);
};

// In the order `mkmaster --help` lists them: the image, the lab, the nodes,
// the data path, the installation; the hidden generators of the man pages
// and the completion read this same table (mkmaster/cli/cli_docs.cpp).
constexpr Command kCommands[] = {
    {cli::add_build},   {cli::add_labfiles}, {cli::add_inventory},     {cli::add_power}, {cli::add_bootdev},
    {cli::add_console}, {cli::add_index},    {cli::add_push},          {cli::add_pull},  {cli::add_put},
    {cli::add_exec},
    {cli::add_paths},   {cli::add_fetch_sysroot}, {cli::add_man},      {cli::add_completion},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mkmaster: build the netboot master image and flash Highbank nodes"};
  app.set_version_flag("--version", fmt::format("mkmaster {}", mkproto::kProjectVersion));
  app.require_subcommand(1);
  app.add_option_function<std::string>(
         "--data-dir", [](const std::string& d) { paths::set_data_dir(d, "--data-dir"); },
         "data directory (hooks/, pxelinux/, boards/, scripts/); default: $MKMASTER_DATA_DIR, else found from the "
         "executable (mkmaster paths)");
  for (const Command& c : kCommands) c.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const cli::Exit& e) {
    return e.code;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mkmaster: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
