// Symlink resolution inside the root: chains, usrmerge, loops, absolute
// links that must stay inside the root, "..", dangling links.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mkmaster/rootfs/file_source.h"
#include "testing/rootfs_fakes.h"

namespace rootfs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using mktest::RootDir;

TEST(Resolve, RealLoaderChain) {
  REQUIRE_ARMHF_DATA();
  auto fs = open_sysroot(mktest::sysroot_dir());
  auto r = resolve(*fs, "/lib/ld-linux-armhf.so.3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3");
  EXPECT_THAT(r->chain, ElementsAre("/lib/ld-linux-armhf.so.3"));
  EXPECT_FALSE(r->usrmerge_fallback);
}

// bookworm's .debs are not usrmerged: wget lives in /usr/bin only, and
// /bin/wget must still find it.
TEST(Resolve, RealUsrmergeFallback) {
  REQUIRE_ARMHF_DATA();
  auto fs = open_sysroot(mktest::sysroot_dir());
  ASSERT_FALSE(fs->lstat("/bin/wget"));
  ASSERT_TRUE(fs->lstat("/usr/bin/wget"));
  auto r = resolve(*fs, "/bin/wget");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/usr/bin/wget");
  EXPECT_TRUE(r->usrmerge_fallback);
  ASSERT_FALSE(fs->lstat("/usr/bin/bash"));
  auto b = resolve(*fs, "/usr/bin/bash");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->path, "/bin/bash");
}

TEST(Resolve, SyntheticUsrmerge) {
  RootDir t;
  t.add_file("/usr/sbin/foo");
  t.add_file("/sbin/bar");
  t.add_dir("/bin");
  t.add_file("/usr/lib/arm-linux-gnueabihf/libz.so.1");
  auto fs = open_sysroot(t.path());
  EXPECT_EQ(resolve(*fs, "/sbin/foo")->path, "/usr/sbin/foo");
  EXPECT_EQ(resolve(*fs, "/usr/sbin/bar")->path, "/sbin/bar");
  EXPECT_EQ(resolve(*fs, "/lib/arm-linux-gnueabihf/libz.so.1")->path, "/usr/lib/arm-linux-gnueabihf/libz.so.1");
  EXPECT_FALSE(resolve(*fs, "/bin/nothing"));
  EXPECT_FALSE(resolve(*fs, "/etc/foo"));  // not a merged directory
}

// A merged-/usr root: /bin is a link, so the link is part of the chain.
TEST(Resolve, MergedRootLinksAreInTheChain) {
  RootDir t;
  t.add_file("/usr/bin/sh", "root's sh");
  t.add_link("/bin", "usr/bin");
  t.add_link("/lib", "/usr/lib");  // absolute, to the ROOT's /usr/lib
  t.add_file("/usr/lib/libc.so.6");
  auto fs = open_sysroot(t.path());
  auto r = resolve(*fs, "/bin/sh");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/usr/bin/sh");
  EXPECT_THAT(r->chain, ElementsAre("/bin"));
  EXPECT_FALSE(r->usrmerge_fallback);
  auto l = resolve(*fs, "/lib/libc.so.6");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->path, "/usr/lib/libc.so.6");
  EXPECT_THAT(l->chain, ElementsAre("/lib"));
}

TEST(Resolve, AbsoluteLinkStaysInsideTheRoot) {
  RootDir t;
  t.add_file("/etc/hostname", "inside");
  t.add_link("/usr/share/h", "/etc/hostname");
  t.add_link("/usr/share/passwd", "/etc/passwd");  // exists on the host, not in the root
  t.add_link("/usr/share/up", "../../../../../etc/hostname");  // ".." cannot climb out of the root
  auto fs = open_sysroot(t.path());
  auto r = resolve(*fs, "/usr/share/h");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/etc/hostname");
  EXPECT_EQ(fs->read(r->path), "inside");
  ASSERT_TRUE(std::filesystem::exists("/etc/passwd"));
  EXPECT_FALSE(resolve(*fs, "/usr/share/passwd"));
  EXPECT_EQ(resolve(*fs, "/usr/share/up")->path, "/etc/hostname");
}

TEST(Resolve, RelativeChainWithDotDot) {
  RootDir t;
  t.add_file("/usr/lib/x/libfoo.so.1.2.3");
  t.add_link("/usr/lib/x/libfoo.so.1", "libfoo.so.1.2.3");
  t.add_link("/opt/lib/libfoo.so", "../../usr/lib/x/libfoo.so.1");
  auto fs = open_sysroot(t.path());
  auto r = resolve(*fs, "/opt/lib/libfoo.so");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/usr/lib/x/libfoo.so.1.2.3");
  EXPECT_THAT(r->chain, ElementsAre("/opt/lib/libfoo.so", "/usr/lib/x/libfoo.so.1"));
}

TEST(Resolve, LoopsThrowNamingThePath) {
  RootDir t;
  t.add_link("/etc/a", "b");
  t.add_link("/etc/b", "/etc/a");
  t.add_link("/etc/self", "self");
  auto fs = open_sysroot(t.path());
  for (const char* p : {"/etc/a", "/etc/self", "/etc/a/below"}) {
    SCOPED_TRACE(p);
    try {
      resolve(*fs, p);
      FAIL() << "loop not detected";
    } catch (const RootfsError& e) {
      EXPECT_THAT(e.what(), HasSubstr(p));
      EXPECT_THAT(e.what(), HasSubstr("loop"));
    }
  }
}

TEST(Resolve, DanglingAndBadPaths) {
  RootDir t;
  t.add_link("/etc/dangling", "nowhere");
  t.add_file("/etc/file");
  auto fs = open_sysroot(t.path());
  EXPECT_FALSE(resolve(*fs, "/etc/dangling"));
  EXPECT_FALSE(resolve(*fs, "/etc/file/below"));
  EXPECT_EQ(resolve(*fs, "/etc")->path, "/etc");
  EXPECT_EQ(resolve(*fs, "/")->path, "/");
  EXPECT_THROW(resolve(*fs, "etc/file"), RootfsError);
}

// Same semantics over .deb contents (the absolute link points at the deb's
// own tree).
TEST(Resolve, InsideDebs) {
  RootDir t;
  mktest::make_deb(t.host("/p_1_armhf.deb"), {{"./usr/lib/libq.so.1.0", 'f', "Q"},
                                            {"./usr/lib/libq.so.1", 'l', "libq.so.1.0"},
                                            {"./lib/libq.so.1", 'l', "/usr/lib/libq.so.1"},
                                            {"./lib/loop", 'l', "loop"}});
  auto fs = open_debs({t.path()});
  auto r = resolve(*fs, "/lib/libq.so.1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path, "/usr/lib/libq.so.1.0");
  EXPECT_THAT(r->chain, ElementsAre("/lib/libq.so.1", "/usr/lib/libq.so.1"));
  EXPECT_THROW(resolve(*fs, "/lib/loop"), RootfsError);
  EXPECT_EQ(resolve(*fs, "/usr/lib/../lib/libq.so.1.0")->path, "/usr/lib/libq.so.1.0");
  EXPECT_FALSE(resolve(*fs, "/opt/../lib/libq.so.1"));  // /opt does not exist: ".." cannot skip it
}

}  // namespace
}  // namespace rootfs
