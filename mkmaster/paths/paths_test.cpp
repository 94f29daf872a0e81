#include "mkmaster/paths/paths.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/files.h"
#include "testing/temp_dir.h"

namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A prefix laid out as the .deb installs it, plus a source tree and a build tree.
struct Trees : mktest::TempDir {
  Trees() : TempDir("paths-test") {
    for (const char* d : {"prefix/bin", "prefix/share/mkmaster/hooks", "prefix/lib/mkmaster", "src/hooks", "src/build",
                          "elsewhere/bin", "elsewhere/hooks"})
      fs::create_directories(root() / d);
    for (const char* f : {"prefix/share/mkmaster/hooks/master.manifest", "src/hooks/master.manifest",
                          "elsewhere/hooks/master.manifest"})
      mktest::write_file((root() / f).string(), "kernel auto\n");
  }
  fs::path root() const { return path(); }
  paths::Inputs inputs(const std::string& exe) const {
    paths::Inputs in;
    in.exe = root() / exe;
    in.build_dir = root() / "src/build";
    in.source_dir = root() / "src";
    in.build_agent = root() / "src/build/agent";
    return in;
  }
};

TEST(Paths, InstalledFindsShareAndLibBesideTheExecutable) {
  Trees t;
  auto l = paths::resolve(t.inputs("prefix/bin/mkmaster"));
  EXPECT_EQ(l.data, t.root() / "prefix/share/mkmaster");
  EXPECT_EQ(l.agent, t.root() / "prefix/lib/mkmaster/target-agent");
  EXPECT_EQ(l.found_by, "installed");
}

TEST(Paths, BuildTreeUsesTheSourceTree) {
  Trees t;
  auto l = paths::resolve(t.inputs("src/build/mkmaster/mkmaster"));
  EXPECT_EQ(l.data, t.root() / "src");
  EXPECT_EQ(l.agent, t.root() / "src/build/agent");
  EXPECT_EQ(l.found_by, "build tree");
}

// An executable outside its build tree never falls back to the source tree,
// nor to a hooks/ next to it or in the working directory.
TEST(Paths, ElsewhereIsAnErrorNamingWhereItLooked) {
  Trees t;
  try {
    paths::resolve(t.inputs("elsewhere/bin/mkmaster"));
    FAIL() << "resolved";
  } catch (const paths::PathsError& e) {
    EXPECT_THAT(e.what(), HasSubstr((t.root() / "elsewhere/share/mkmaster").string()));
    EXPECT_THAT(e.what(), HasSubstr("--data-dir"));
  }
}

TEST(Paths, OverrideWinsAndMustBeADirectory) {
  Trees t;
  auto in = t.inputs("src/build/mkmaster/mkmaster");
  in.override_dir = (t.root() / "prefix/share/mkmaster").string();
  in.override_from = "MKMASTER_DATA_DIR";
  auto l = paths::resolve(in);
  EXPECT_EQ(l.data, t.root() / "prefix/share/mkmaster");
  EXPECT_EQ(l.agent, t.root() / "prefix/lib/mkmaster/target-agent");
  EXPECT_EQ(l.found_by, "MKMASTER_DATA_DIR");
  in.override_dir = (t.root() / "missing").string();
  in.override_from = "--data-dir";
  EXPECT_THROW(
      {
        try {
          paths::resolve(in);
        } catch (const paths::PathsError& e) {
          EXPECT_THAT(e.what(), HasSubstr("--data-dir " + in.override_dir + ": not a directory"));
          throw;
        }
      },
      paths::PathsError);
}

TEST(Paths, CacheDirFollowsRootThenXdgThenHome) {
  using paths::CacheEnv;
  EXPECT_EQ(paths::cache_dir(CacheEnv{"/c", "/x", "/h", true}), "/c");
  EXPECT_EQ(paths::cache_dir(CacheEnv{"", "/x", "/h", true}), "/var/cache/mkmaster");
  EXPECT_EQ(paths::cache_dir(CacheEnv{"", "/x", "/h", false}), "/x/mkmaster");
  EXPECT_EQ(paths::cache_dir(CacheEnv{"", "relative", "/h", false}), "/h/.cache/mkmaster");
  EXPECT_EQ(paths::cache_dir(CacheEnv{"", "", "/h", false}), "/h/.cache/mkmaster");
  EXPECT_THROW(paths::cache_dir(CacheEnv{"", "", "", false}), paths::PathsError);
}

}  // namespace
