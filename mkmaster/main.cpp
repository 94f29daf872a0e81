// mkmaster: builds the Highbank netboot master image and flashes nodes.
// Subcommands register themselves (mkmaster/cli/command_registry.h); this
// file only parses and maps failures to exit codes.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <exception>

#include "mkmaster/cli/command_registry.h"
#include "protocol/version.h"

int main(int argc, char** argv) {
  CLI::App app{"mkmaster: build the netboot master image and flash Highbank nodes"};
  app.set_version_flag("--version", fmt::format("mkmaster {}", mkproto::kProjectVersion));
  app.require_subcommand(1);
  mkcli::setup_all(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const mkcli::Exit& e) {
    return e.code;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mkmaster: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
