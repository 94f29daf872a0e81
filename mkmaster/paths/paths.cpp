#include "mkmaster/paths/paths.h"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <vector>

namespace paths {
namespace fs = std::filesystem;

namespace {

std::string g_override_dir, g_override_from;

bool has_manifest(const fs::path& data) {
  std::error_code ec;
  return fs::is_regular_file(data / "hooks" / "master.manifest", ec);
}

// `p` is inside `dir` (both absolute, lexically normal).
bool inside(const fs::path& p, const fs::path& dir) {
  if (dir.empty()) return false;
  auto rel = p.lexically_normal().lexically_relative(dir.lexically_normal());
  return !rel.empty() && *rel.begin() != "..";
}

fs::path agent_beside(const fs::path& data) {
  return (data / ".." / ".." / "lib" / "mkmaster" / "target-agent").lexically_normal();
}

}  // namespace

Layout resolve(const Inputs& in) {
  if (!in.override_dir.empty()) {
    std::error_code ec;
    fs::path d = fs::absolute(in.override_dir, ec);
    if (ec || !fs::is_directory(d, ec))
      throw PathsError(fmt::format("{} {}: not a directory", in.override_from, in.override_dir));
    d = d.lexically_normal();
    return {d, agent_beside(d), in.override_from};
  }
  std::vector<std::string> looked;
  if (!in.exe.empty()) {
    const fs::path prefix = in.exe.parent_path().parent_path();
    const fs::path data = prefix / "share" / "mkmaster";
    if (has_manifest(data)) return {data, prefix / "lib" / "mkmaster" / "target-agent", "installed"};
    looked.push_back(data.string());
  }
  if (inside(in.exe, in.build_dir)) {
    if (has_manifest(in.source_dir)) return {in.source_dir, in.build_agent, "build tree"};
    looked.push_back(in.source_dir.string());
  }
  throw PathsError(fmt::format(
      "no mkmaster data directory (hooks/master.manifest) in {}; pass --data-dir DIR or set MKMASTER_DATA_DIR",
      looked.empty() ? std::string("any known place") : fmt::format("{}", fmt::join(looked, " or "))));
}

void set_data_dir(const std::string& dir, const std::string& from) {
  g_override_dir = dir;
  g_override_from = from;
}

const Layout& layout() {
  static const Layout l = [] {
    Inputs in;
    in.override_dir = g_override_dir;
    in.override_from = g_override_from;
    if (const char* e = std::getenv("MKMASTER_DATA_DIR"); in.override_dir.empty() && e && *e) {
      in.override_dir = e;
      in.override_from = "MKMASTER_DATA_DIR";
    }
    std::error_code ec;
    in.exe = fs::canonical("/proc/self/exe", ec);
    in.build_dir = MKMASTER_BUILD_DIR;
    in.source_dir = MKMASTER_SOURCE_DIR;
    in.build_agent = MKMASTER_DEFAULT_AGENT;
    return resolve(in);
  }();
  return l;
}

fs::path cache_dir(const CacheEnv& env) {
  if (!env.mkmaster_cache.empty()) return env.mkmaster_cache;
  if (env.root) return "/var/cache/mkmaster";
  // The XDG base directory spec: a relative $XDG_CACHE_HOME is invalid and ignored.
  if (!env.xdg_cache_home.empty() && env.xdg_cache_home[0] == '/') return fs::path(env.xdg_cache_home) / "mkmaster";
  if (!env.home.empty()) return fs::path(env.home) / ".cache" / "mkmaster";
  throw PathsError("no cache directory: set MKMASTER_CACHE (neither XDG_CACHE_HOME nor HOME is set)");
}

fs::path cache_dir() {
  auto env = [](const char* n) {
    const char* v = std::getenv(n);
    return std::string(v ? v : "");
  };
  return cache_dir(CacheEnv{env("MKMASTER_CACHE"), env("XDG_CACHE_HOME"), env("HOME"), ::geteuid() == 0});
}

}  // namespace paths
