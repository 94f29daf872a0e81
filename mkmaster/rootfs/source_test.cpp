// FileSource over the real unpacked sysroot and over .debs (real and
// synthetic): lstat/read/list/origin, literal lookups, bad .debs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "mkmaster/rootfs/file_source.h"
#include "testing/rootfs_fakes.h"

namespace rootfs {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using mktest::RootDir;

TEST(SysrootSource, RealBashAndLoaderLink) {
  REQUIRE_ARMHF_DATA();
  auto t0 = std::chrono::steady_clock::now();
  auto fs = open_sysroot(mktest::sysroot_dir());
  auto bash = fs->lstat("/bin/bash");
  ASSERT_TRUE(bash);
  EXPECT_EQ(bash->type, FileType::Regular);
  EXPECT_EQ(bash->mode, 0755u);
  EXPECT_EQ(fs->read("/bin/bash"), mktest::slurp(mktest::sysroot_dir() + "/bin/bash"));
  EXPECT_EQ(bash->size, fs->read("/bin/bash").size());

  auto ld = fs->lstat("/lib/ld-linux-armhf.so.3");
  ASSERT_TRUE(ld);
  EXPECT_EQ(ld->type, FileType::Symlink);
  EXPECT_EQ(ld->link_target, "arm-linux-gnueabihf/ld-linux-armhf.so.3");
  EXPECT_EQ(fs->lstat("/lib")->type, FileType::Directory);
  EXPECT_FALSE(fs->lstat("/bin/no-such-tool"));

  auto names = fs->list("/lib");
  EXPECT_THAT(names, Contains("arm-linux-gnueabihf"));
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_TRUE(fs->list("/no/such/dir").empty());
  EXPECT_EQ(fs->origin("/bin/bash"), "sysroot " + mktest::sysroot_dir() + "/bin/bash");
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  RecordProperty("sysroot_ms", std::to_string(ms));
  EXPECT_LT(ms, 1000.0);
}

TEST(SysrootSource, MissingRootAndBadPaths) {
  EXPECT_THROW(open_sysroot("/nonexistent/sysroot"), RootfsError);
  RootDir t;
  t.add_file("/etc/f", "data");
  auto fs = open_sysroot(t.path());
  EXPECT_THROW(fs->lstat("relative/path"), RootfsError);
  EXPECT_THROW(fs->read("/etc"), RootfsError);
  try {
    fs->read("/etc/missing");
    FAIL() << "no exception";
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/etc/missing"));
  }
  EXPECT_EQ(fs->read("/etc/../etc/./f"), "data");
}

// An intermediate symlink must not be followed by the HOST: /hostlib ->
// /usr/lib inside the root means the root's /usr/lib, which here lacks the
// os-release that the host's /usr/lib has.
TEST(SysrootSource, IntermediateSymlinksAreNotFollowedOnTheHost) {
  RootDir t;
  t.add_dir("/usr/lib");
  t.add_link("/hostlib", "/usr/lib");
  ASSERT_TRUE(std::filesystem::exists("/usr/lib/os-release")) << "test premise: host has /usr/lib/os-release";
  auto fs = open_sysroot(t.path());
  EXPECT_FALSE(fs->lstat("/hostlib/os-release"));
  EXPECT_THROW(fs->read("/hostlib/os-release"), RootfsError);
  EXPECT_TRUE(fs->list("/hostlib").empty());
  EXPECT_EQ(fs->lstat("/hostlib")->link_target, "/usr/lib");
}

TEST(DebSource, RealBashDebMatchesSysroot) {
  REQUIRE_ARMHF_DATA();
  const std::string deb = mktest::find_deb("bash_");
  ASSERT_FALSE(deb.empty());
  auto fs = open_debs({deb});
  auto sys = open_sysroot(mktest::sysroot_dir());
  auto st = fs->lstat("/bin/bash");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->type, FileType::Regular);
  EXPECT_EQ(st->mode, 0755u);
  EXPECT_EQ(fs->read("/bin/bash"), sys->read("/bin/bash"));
  EXPECT_EQ(fs->origin("/bin/bash"), std::filesystem::path(deb).filename().string());
  EXPECT_THAT(fs->list("/bin"), Contains("bash"));
  EXPECT_THAT(fs->list("/"), Contains("bin"));
  EXPECT_EQ(fs->lstat("/")->type, FileType::Directory);
  EXPECT_FALSE(fs->lstat("/bin/zsh"));
  EXPECT_THROW(fs->read("/bin/zsh"), RootfsError);
  EXPECT_THROW(fs->read("/bin"), RootfsError);
}

TEST(DebSource, SyntheticLinksHardlinksAndImplicitParents) {
  RootDir t;
  mktest::make_deb(t.host("/a_1_armhf.deb"), {{"./usr/bin/tool", 'f', "TOOL"},
                                            {"./usr/bin/tool2", 'h', "./usr/bin/tool"},
                                            {"./bin/t", 'l', "/usr/bin/tool"}});
  for (uint64_t budget : {uint64_t{1} << 30, uint64_t{0}}) {
    SCOPED_TRACE(budget);
    auto fs = open_debs({t.path()}, DebOptions{budget});
    EXPECT_EQ(fs->read("/usr/bin/tool"), "TOOL");
    EXPECT_EQ(fs->read("/usr/bin/tool2"), "TOOL");
    EXPECT_EQ(fs->lstat("/usr/bin/tool2")->size, 4u);
    EXPECT_EQ(fs->lstat("/bin/t")->link_target, "/usr/bin/tool");
    EXPECT_EQ(fs->lstat("/usr")->type, FileType::Directory);  // not in the tar: implied
    EXPECT_EQ(fs->list("/usr/bin"), (std::vector<std::string>{"tool", "tool2"}));
  }
}

TEST(DebSource, FirstInSortedOrderWinsAndConflictIsReported) {
  RootDir t;
  mktest::make_deb(t.host("/b_1_armhf.deb"), {{"./etc/conf", 'f', "from b"}, {"./etc/same", 'f', "same"}});
  mktest::make_deb(t.host("/a_1_armhf.deb"), {{"./etc/conf", 'f', "from a"}, {"./etc/same", 'f', "same"}});
  auto fs = open_debs({t.host("/b_1_armhf.deb"), t.host("/a_1_armhf.deb")});
  EXPECT_EQ(fs->read("/etc/conf"), "from a");
  EXPECT_EQ(fs->origin("/etc/conf"), "a_1_armhf.deb");
  auto w = fs->warnings();
  ASSERT_EQ(w.size(), 1u);
  EXPECT_THAT(w[0], HasSubstr("/etc/conf"));
  EXPECT_THAT(w[0], HasSubstr("b_1_armhf.deb"));
}

TEST(DebSource, GarbageTruncatedAndEmptyDebsAreNamed) {
  REQUIRE_ARMHF_DATA();
  RootDir t;
  const std::string real = mktest::slurp(mktest::find_deb("bash_"));
  ASSERT_GT(real.size(), 100000u);
  t.add_file("/garbage_1_armhf.deb", std::string(5000, 'G'));
  t.add_file("/cut-header_1_armhf.deb", real.substr(0, 30));
  t.add_file("/cut-data_1_armhf.deb", real.substr(0, real.size() / 2));
  t.add_file("/cut-end_1_armhf.deb", real.substr(0, real.size() - 100));
  mktest::make_deb(t.host("/nodata_1_armhf.deb"), {}, /*with_data=*/false);
  for (const char* name : {"/garbage_1_armhf.deb", "/cut-header_1_armhf.deb", "/cut-data_1_armhf.deb",
                           "/cut-end_1_armhf.deb", "/nodata_1_armhf.deb"}) {
    SCOPED_TRACE(name);
    try {
      open_debs({t.host(name)});
      FAIL() << "opened a broken .deb";
    } catch (const RootfsError& e) {
      EXPECT_THAT(e.what(), HasSubstr(t.host(name)));
    }
  }
  EXPECT_THROW(open_debs({t.host("/does-not-exist.deb")}), RootfsError);
  RootDir empty;
  EXPECT_THROW(open_debs({empty.path()}), RootfsError);
}

}  // namespace
}  // namespace rootfs
