#pragma once
// Where mkmaster finds its data (manifests, hooks, pxelinux templates,
// board profiles, the sysroot fetch script), the static armhf target-agent
// it embeds, and its cache. One place, so an installed mkmaster, a build
// tree and a relocated unpacked .deb all look things up the same way
// (docs/packaging.md).
//
//   1. --data-dir DIR or MKMASTER_DATA_DIR: DIR is the data root; the agent
//      is DIR/../../lib/mkmaster/target-agent (the install layout).
//   2. installed: /proc/self/exe is PREFIX/bin/mkmaster and
//      PREFIX/share/mkmaster/hooks/master.manifest exists; the agent is
//      PREFIX/lib/mkmaster/target-agent.
//   3. development: the executable lies inside the build tree it was built
//      in; the data root is the source tree, the agent the build tree's.
// Nothing else: an installed mkmaster never reads a source checkout or the
// working directory (a `hooks/` beside the user is not ours).
#include <filesystem>
#include <stdexcept>
#include <string>

namespace paths {

struct PathsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Layout {
  std::filesystem::path data;   // hooks/, pxelinux/, boards/, sysroot/
  std::filesystem::path agent;  // the static armhf target-agent
  std::string found_by;         // how: "--data-dir", "MKMASTER_DATA_DIR", "installed", "build tree"
};

// What the lookup starts from; the real one is `current_inputs()`.
struct Inputs {
  std::string override_dir;   // --data-dir / MKMASTER_DATA_DIR value, empty if none
  std::string override_from;  // which of the two gave it
  std::filesystem::path exe;  // the running executable, symlinks resolved
  std::filesystem::path build_dir, source_dir, build_agent;  // compiled in
};

// Pure: applies the rules above to `in`, checking the filesystem. Throws
// PathsError naming every place it looked.
Layout resolve(const Inputs& in);

// The running mkmaster's layout, resolved once (on first use, so commands
// that need no data never fail for lack of it).
const Layout& layout();
inline std::filesystem::path data_root() { return layout().data; }

// Set by main from --data-dir before any command runs; it wins over
// $MKMASTER_DATA_DIR, which layout() reads itself.
void set_data_dir(const std::string& dir, const std::string& from);

// The cache ($MKMASTER_CACHE; else /var/cache/mkmaster as root; else
// $XDG_CACHE_HOME/mkmaster; else ~/.cache/mkmaster). Holds the armhf
// sysroot (armhf/{debs,sysroot}) and the gzip segment cache (deflate/).
struct CacheEnv {
  std::string mkmaster_cache, xdg_cache_home, home;
  bool root = false;
};
std::filesystem::path cache_dir(const CacheEnv& env);  // pure
std::filesystem::path cache_dir();                     // from the environment

}  // namespace paths
