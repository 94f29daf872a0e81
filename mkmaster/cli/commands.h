#pragma once
// The subcommands of mkmaster. Each lives in a cli_<name>.cpp in the folder
// of its concern and adds itself (options and callback) to the top-level
// app; main.cpp lists them in one table.
#include <CLI/CLI.hpp>

namespace cli {

void add_build(CLI::App& app);     // mkmaster/initrd/cli_build.cpp
void add_labfiles(CLI::App& app);  // mkmaster/lab/cli_labfiles.cpp
void add_inventory(CLI::App& app); // mkmaster/lab/cli_inventory.cpp
void add_power(CLI::App& app);     // mkmaster/bmc/cli_power.cpp
void add_bootdev(CLI::App& app);   // mkmaster/bmc/cli_bootdev.cpp
void add_console(CLI::App& app);   // mkmaster/bmc/cli_console.cpp
void add_push(CLI::App& app);      // mkmaster/flash/cli_push.cpp (direct push or the node pipeline)
void add_pull(CLI::App& app);      // mkmaster/push/cli_pull.cpp
void add_put(CLI::App& app);       // mkmaster/push/cli_put.cpp
void add_exec(CLI::App& app);      // mkmaster/push/cli_exec.cpp
void add_index(CLI::App& app);     // mkmaster/source/cli_index.cpp
void add_fetch_sysroot(CLI::App& app);  // mkmaster/paths/cli_fetch_sysroot.cpp
void add_paths(CLI::App& app);     // mkmaster/paths/cli_paths.cpp
void add_man(CLI::App& app);       // mkmaster/cli/cli_docs.cpp (hidden: man pages from this table)
void add_completion(CLI::App& app);  // mkmaster/cli/cli_docs.cpp (hidden: bash completion)

// Thrown by a command to end with a specific exit status after it has
// printed its own message. Any other exception prints "mkmaster: error: …"
// and exits 1.
struct Exit {
  int code;
};

}  // namespace cli
