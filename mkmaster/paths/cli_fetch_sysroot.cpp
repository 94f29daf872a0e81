// mkmaster fetch-sysroot: downloads the armhf packages the image is built
// from into the cache (CACHE/armhf/{debs,sysroot}), as scripts/setup.sh does
// for a checkout. Runs the one script both use (DATA/scripts/
// fetch-armhf-sysroot.sh, installed with the package), so the download
// logic exists once; the cache is the one `mkmaster build` reads.
#include <fmt/core.h>

#include "base/spawn.h"
#include "mkmaster/cli/commands.h"
#include "mkmaster/paths/paths.h"

void cli::add_fetch_sysroot(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "fetch-sysroot",
      "download the armhf packages mkmaster build reads into CACHE/armhf (private apt state; the host's dpkg "
      "architectures are never touched)");
  sub->callback([] {
    const auto script = paths::data_root() / "scripts" / "fetch-armhf-sysroot.sh";
    const auto cache = paths::cache_dir();
    base::SpawnOptions o({"/bin/bash", script.string()}, {{"MKMASTER_CACHE", cache.string()}});
    o.in = o.out = o.err = base::Stdio::kInherit;
    auto status = base::spawn(o).wait();
    if (status.code != 0) {
      fmt::print(stderr, "mkmaster: error: fetch-sysroot: {} failed ({})\n", script.string(),
                 status.code >= 0 ? fmt::format("exit status {}", status.code) : fmt::format("signal {}", status.signal));
      throw cli::Exit{status.code > 0 ? status.code : 1};
    }
  });
}
