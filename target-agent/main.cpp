// target-agent: runs on the node inside the master image and writes disk
// images that mkmaster pushes (see docs/protocol.md).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "protocol/version.h"

int main(int argc, char** argv) {
  CLI::App app{"target-agent: receives disk images from mkmaster and writes them to a block device"};
  app.set_version_flag("--version", fmt::format("target-agent {}", mkproto::kProjectVersion));
  CLI11_PARSE(app, argc, argv);
  return 0;
}
