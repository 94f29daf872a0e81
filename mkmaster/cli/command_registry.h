#pragma once
// Each mkmaster subcommand lives in its own file (mkmaster/<area>/cli_*.cpp)
// and registers itself with a static Registration, so main.cpp stays thin and
// adding a command touches no shared file. Those files are compiled straight
// into the mkmaster executable (target_sources), not into a static library,
// so the linker keeps their registrations.
#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>

namespace mkcli {

// Adds one subcommand (and its callback) to the top-level app.
using Setup = std::function<void(CLI::App& app)>;

struct Registration {
  Registration(std::string name, Setup setup);
};

// Called once by main(): adds every registered subcommand, sorted by name.
void setup_all(CLI::App& app);

// Thrown by a command to end with a specific exit status (after it has
// printed its own message). Any other exception prints "mkmaster: error: …"
// and exits 1.
struct Exit {
  int code;
};

}  // namespace mkcli
