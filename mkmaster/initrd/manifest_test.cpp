#include "mkmaster/initrd/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace initrd {
namespace {

using ::testing::HasSubstr;

std::string error_of(std::string_view text, const std::string& file = "/m/test.manifest") {
  try {
    parse_manifest(text, file);
  } catch (const ManifestError& e) {
    return e.what();
  }
  return "no error";
}

TEST(Manifest, ParsesEveryDirective) {
  auto m = parse_manifest(R"(# the master image
exec /bin/bash
exec? /sbin/maybe      # trailing comment
file /etc/fstab /etc/fstab.orig
busybox /bin/busybox
module sata_highbank sd_mod
module? ahci_platform
dir /mnt /lava
symlink /bin/nc -> nc.openbsd
local files/fstab /etc/fstab
kernel auto
dtb highbank.dtb
source sysroot ../sysroot
source debs /d1 d2
)",
                          "/m/x/test.manifest");
  ASSERT_EQ(m.items.size(), 13u);
  EXPECT_EQ(m.items[0].kind, Item::Kind::Exec);
  EXPECT_EQ(m.items[0].path, "/bin/bash");
  EXPECT_EQ(m.items[0].where.str(), "/m/x/test.manifest:2");
  EXPECT_FALSE(m.items[0].optional);
  EXPECT_TRUE(m.items[1].optional);
  EXPECT_EQ(m.items[2].kind, Item::Kind::File);
  EXPECT_EQ(m.items[2].dest, "/etc/fstab.orig");
  EXPECT_EQ(m.items[3].kind, Item::Kind::Busybox);
  EXPECT_EQ(m.items[4].path, "sata_highbank");
  EXPECT_EQ(m.items[5].path, "sd_mod");
  EXPECT_EQ(m.items[5].where.line, 6);
  EXPECT_TRUE(m.items[6].optional);
  EXPECT_EQ(m.items[8].path, "/lava");
  EXPECT_EQ(m.items[9].kind, Item::Kind::Symlink);
  EXPECT_EQ(m.items[9].dest, "nc.openbsd");
  EXPECT_EQ(m.items[10].kind, Item::Kind::Local);
  EXPECT_EQ(m.items[10].path, "/m/x/files/fstab");
  EXPECT_EQ(m.items[11].kind, Item::Kind::Kernel);
  EXPECT_EQ(m.items[12].path, "highbank.dtb");
  EXPECT_EQ(m.sysroot, "/m/sysroot");
  EXPECT_EQ(m.debs, (std::vector<std::string>{"/d1", "/m/x/d2"}));
}

TEST(Manifest, ExpandsEnvironmentInSources) {
  setenv("MKM_TEST_CACHE", "/cache", 1);
  unsetenv("MKM_TEST_UNSET");
  auto m = parse_manifest("source sysroot ${MKM_TEST_CACHE}/armhf/sysroot\nsource debs ${MKM_TEST_UNSET:-/x}/debs\n", "m");
  EXPECT_EQ(m.sysroot, "/cache/armhf/sysroot");
  EXPECT_EQ(m.debs, std::vector<std::string>{"/x/debs"});
  EXPECT_THAT(error_of("source sysroot ${MKM_TEST_UNSET}/s\n"), HasSubstr("MKM_TEST_UNSET is not set"));
}

TEST(Manifest, BadLinesNameFileLineAndField) {
  EXPECT_EQ(error_of("\n\nfrobnicate /x\n"),
            "/m/test.manifest:3: frobnicate: unknown directive (expected one of: exec, file, busybox, module, "
            "dir, symlink, local, kernel, dtb, source)");
  EXPECT_EQ(error_of("exec bin/bash\n"), "/m/test.manifest:1: path: 'bin/bash' is not an absolute path");
  EXPECT_EQ(error_of("exec\n"), "/m/test.manifest:1: exec: expected 'exec PATH [DEST]', got 0 arguments");
  EXPECT_EQ(error_of("exec /a /b /c\n"), "/m/test.manifest:1: exec: expected 'exec PATH [DEST]', got 3 arguments");
  EXPECT_EQ(error_of("file /a b\n"), "/m/test.manifest:1: dest: 'b' is not an absolute path");
  EXPECT_EQ(error_of("exec /bin/../etc/shadow\n"), "/m/test.manifest:1: path: '/bin/../etc/shadow' contains '..'");
  EXPECT_EQ(error_of("module sata/highbank\n"),
            "/m/test.manifest:1: module: 'sata/highbank' is not a module name (letters, digits, '_' and '-')");
  EXPECT_EQ(error_of("symlink /bin/nc nc.openbsd\n"), "/m/test.manifest:1: symlink: expected 'symlink LINK -> TARGET'");
  EXPECT_EQ(error_of("kernel auto\nkernel 6.1\n"), "/m/test.manifest:2: kernel: only one kernel line is allowed");
  EXPECT_EQ(error_of("dtb boot/highbank.dtb\n"), "/m/test.manifest:1: dtb: 'boot/highbank.dtb' is not an absolute path");
  EXPECT_EQ(error_of("dir? /mnt\n"), "/m/test.manifest:1: dir?: 'dir' cannot be optional");
  EXPECT_EQ(error_of("source tarball /x\n"),
            "/m/test.manifest:1: source: unknown source kind 'tarball' (expected sysroot or debs)");
  EXPECT_EQ(error_of("source sysroot /a\nsource sysroot /b\n"),
            "/m/test.manifest:2: source sysroot: only one sysroot is allowed");
}

TEST(Manifest, LoadNamesUnreadableFile) {
  try {
    load_manifest("/nonexistent/master.manifest");
    FAIL() << "no error";
  } catch (const ManifestError& e) {
    EXPECT_STREQ(e.what(), "/nonexistent/master.manifest: cannot read manifest");
  }
}

TEST(Manifest, MergeKeepsFirstSysroot) {
  auto a = parse_manifest("exec /bin/a\nsource sysroot /s1\n", "a");
  auto b = parse_manifest("exec /bin/b\nsource sysroot /s2\nsource debs /d\n", "b");
  merge(a, std::move(b));
  ASSERT_EQ(a.items.size(), 2u);
  EXPECT_EQ(a.items[1].where.str(), "b:1");
  EXPECT_EQ(a.sysroot, "/s1");
  EXPECT_EQ(a.debs, std::vector<std::string>{"/d"});
}

}  // namespace
}  // namespace initrd
