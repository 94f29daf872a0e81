// ELF closure on the real armhf sysroot and .debs, and ld.so's search
// rules on synthetic objects.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "mkmaster/rootfs/elf_closure.h"
#include "testing/rootfs_fakes.h"

namespace rootfs {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using mktest::RootDir;

std::vector<std::string> paths(const std::vector<Needed>& n) {
  std::vector<std::string> out;
  for (const auto& x : n) out.push_back(x.path);
  return out;
}

const Needed* find(const std::vector<Needed>& n, const std::string& p) {
  for (const auto& x : n)
    if (x.path == p) return &x;
  return nullptr;
}

TEST(ElfClosure, BashFromSysroot) {
  REQUIRE_ARMHF_DATA();
  auto fs = open_sysroot(mktest::sysroot_dir());
  auto t0 = std::chrono::steady_clock::now();
  auto n = elf_closure(*fs, {"/bin/bash"}, EM_ARM);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "bash closure from the sysroot: " << ms << " ms\n";
  EXPECT_THAT(paths(n), UnorderedElementsAre("/lib/ld-linux-armhf.so.3",
                                             "/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3",
                                             "/lib/arm-linux-gnueabihf/libtinfo.so.6",
                                             "/lib/arm-linux-gnueabihf/libtinfo.so.6.4",
                                             "/lib/arm-linux-gnueabihf/libc.so.6"));
  EXPECT_EQ(find(n, "/lib/arm-linux-gnueabihf/libtinfo.so.6.4")->reason, "needed by /bin/bash (libtinfo.so.6)");
  EXPECT_THAT(find(n, "/lib/ld-linux-armhf.so.3")->reason, HasSubstr("interpreter of /bin/bash"));
  EXPECT_LT(ms, 1000.0);
}

TEST(ElfClosure, SameFromDebsAsFromSysroot) {
  REQUIRE_ARMHF_DATA();
  auto sys = open_sysroot(mktest::sysroot_dir());
  auto t0 = std::chrono::steady_clock::now();
  auto debs = open_debs({mktest::debs_dir()});
  auto s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // The one-off cost a `--debs` build pays (xz allows no skipping):
  // reported, and bounded so a regression (e.g. one pass per file) shows.
  std::cerr << "open_debs(all): " << s << " s\n";
  RecordProperty("open_all_debs_s", std::to_string(s));
  EXPECT_LT(s, 60.0);
  for (const auto& w : debs->warnings()) std::cerr << "warning: " << w << "\n";
  EXPECT_THAT(debs->list("/lib/modules"), ::testing::Contains(::testing::StartsWith("6.1.")));
  const std::vector<std::string> tools = {"/bin/bash", "/sbin/parted", "/usr/bin/wget", "/bin/ip",
                                          "/sbin/mke2fs", "/sbin/dhclient", "/bin/nc.openbsd", "/usr/bin/mkimage"};
  for (const auto& t : tools) ASSERT_TRUE(debs->lstat(t)) << t;
  auto a = elf_closure(*sys, tools, EM_ARM);
  auto b = elf_closure(*debs, tools, EM_ARM);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].path, b[i].path);
    EXPECT_EQ(a[i].reason, b[i].reason);
    auto fa = sys->lstat(a[i].path), fb = debs->lstat(b[i].path);
    ASSERT_TRUE(fa && fb) << a[i].path;
    EXPECT_EQ(fa->type, fb->type) << a[i].path;
    if (fa->type == FileType::Regular) {
      EXPECT_EQ(sys->read(a[i].path), debs->read(b[i].path)) << a[i].path;
    }
  }
  // Every regular file is an ARM ELF; no duplicates.
  std::set<std::string> seen;
  for (const auto& x : a) {
    EXPECT_TRUE(seen.insert(x.path).second) << "duplicate " << x.path;
    if (sys->lstat(x.path)->type == FileType::Regular) {
      EXPECT_EQ(parse_elf(sys->read(x.path), x.path).machine, EM_ARM) << x.path;
    }
  }
  EXPECT_GT(a.size(), 20u);  // parted, wget, ip... pull in dozens of libraries
}

TEST(ElfClosure, ScriptsPullNothing) {
  RootDir t;
  t.add_file("/bin/script", "#!/bin/sh\necho hi\n");
  auto fs = open_sysroot(t.path());
  EXPECT_TRUE(elf_closure(*fs, {"/bin/script"}, EM_ARM).empty());
}

TEST(ElfClosure, HostBinaryInArmhfRootIsRejected) {
  RootDir t;
  t.add_file("/bin/ls", mktest::slurp("/bin/ls"));
  auto fs = open_sysroot(t.path());
  try {
    elf_closure(*fs, {"/bin/ls"}, EM_ARM);
    FAIL() << "accepted an x86-64 binary";
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/bin/ls"));
    EXPECT_THAT(e.what(), HasSubstr("x86-64"));
    EXPECT_THAT(e.what(), HasSubstr("ARM"));
  }
}

// A root with bash, libc and the loader but no libtinfo.
TEST(ElfClosure, MissingLibraryNamesItAndWhoNeedsIt) {
  REQUIRE_ARMHF_DATA();
  const std::string s = mktest::sysroot_dir();
  RootDir t;
  t.add_file("/bin/bash", mktest::slurp(s + "/bin/bash"));
  t.add_file("/lib/arm-linux-gnueabihf/libc.so.6", mktest::slurp(s + "/lib/arm-linux-gnueabihf/libc.so.6"));
  t.add_file("/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3",
         mktest::slurp(s + "/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3"));
  t.add_link("/lib/ld-linux-armhf.so.3", "arm-linux-gnueabihf/ld-linux-armhf.so.3");
  auto fs = open_sysroot(t.path());
  try {
    elf_closure(*fs, {"/bin/bash"}, EM_ARM);
    FAIL() << "missing libtinfo not reported";
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("libtinfo.so.6"));
    EXPECT_THAT(e.what(), HasSubstr("needed by /bin/bash"));
  }
  // Truncated library: named, not a crash.
  t.add_file("/lib/arm-linux-gnueabihf/libtinfo.so.6", mktest::slurp(s + "/lib/arm-linux-gnueabihf/libtinfo.so.6.4").substr(0, 3000));
  auto fs2 = open_sysroot(t.path());
  try {
    elf_closure(*fs2, {"/bin/bash"}, EM_ARM);
    FAIL() << "truncated libtinfo accepted";
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/lib/arm-linux-gnueabihf/libtinfo.so.6"));
  }
}

// ld.so's order: RUNPATH ($ORIGIN) before the default directories; RPATH
// ignored when RUNPATH is present; RPATH inherited by what the object
// loads; wrong-machine candidates skipped.
TEST(ElfClosure, SearchOrderRpathRunpathOrigin) {
  RootDir t;
  auto lib = [&](const std::string& p, mktest::ElfSpec s = {}) { t.add_file(p, mktest::make_elf32(s)); };
  lib("/opt/app/bin/app", {EM_ARM, "", {"libfoo.so.1", "libbar.so.1"}, "/opt/ignored", "$ORIGIN/../lib"});
  lib("/opt/app/lib/libfoo.so.1");
  lib("/lib/arm-linux-gnueabihf/libfoo.so.1");  // decoy: RUNPATH comes first
  lib("/opt/app/lib/libbar.so.1", {EM_X86_64, "", {}, "", ""});  // wrong machine: skipped
  lib("/usr/lib/arm-linux-gnueabihf/libbar.so.1");
  lib("/opt/ignored/libbar.so.1");  // RPATH does not apply beside RUNPATH

  lib("/opt/r/bin/tool", {EM_ARM, "", {"liba.so.1"}, "/opt/r/lib", ""});
  lib("/opt/r/lib/liba.so.1", {EM_ARM, "", {"libb.so.1"}, "", ""});
  lib("/opt/r/lib/libb.so.1");  // found only through the inherited RPATH
  auto fs = open_sysroot(t.path());

  auto n = elf_closure(*fs, {"/opt/app/bin/app"}, EM_ARM);
  EXPECT_THAT(paths(n), UnorderedElementsAre("/opt/app/lib/libfoo.so.1", "/usr/lib/arm-linux-gnueabihf/libbar.so.1"));
  auto m = elf_closure(*fs, {"/opt/r/bin/tool"}, EM_ARM);
  EXPECT_THAT(paths(m), UnorderedElementsAre("/opt/r/lib/liba.so.1", "/opt/r/lib/libb.so.1"));
  EXPECT_EQ(find(m, "/opt/r/lib/libb.so.1")->reason, "needed by /opt/r/lib/liba.so.1 (libb.so.1)");
}

TEST(ElfClosure, LibraryOnlyInLdSoConfDirGetsAHint) {
  RootDir t;
  t.add_file("/usr/bin/app", mktest::make_elf32({EM_ARM, "", {"libx.so.1"}, "", ""}));
  t.add_file("/opt/x/lib/libx.so.1", mktest::make_elf32({}));
  t.add_file("/etc/ld.so.conf.d/x.conf", "# x\n/opt/x/lib  \n");
  auto fs = open_sysroot(t.path());
  try {
    elf_closure(*fs, {"/usr/bin/app"}, EM_ARM);
    FAIL() << "found a library ld.so would not find without ld.so.cache";
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("library libx.so.1 needed by /usr/bin/app not found"));
    EXPECT_THAT(e.what(), HasSubstr("/opt/x/lib/libx.so.1"));
    EXPECT_THAT(e.what(), HasSubstr("ld.so.cache"));
  }
}

// A merged-/usr root (/lib -> usr/lib): the link itself is part of what
// the image needs, or /lib/ld-linux-armhf.so.3 would not exist there.
TEST(ElfClosure, MergedUsrRootIncludesTheDirectoryLinks) {
  RootDir t;
  t.add_link("/lib", "usr/lib");
  t.add_link("/bin", "usr/bin");
  t.add_file("/usr/bin/app", mktest::make_elf32({EM_ARM, "/lib/ld-linux-armhf.so.3", {"libc.so.6"}, "", ""}));
  t.add_link("/usr/lib/ld-linux-armhf.so.3", "arm-linux-gnueabihf/ld-linux-armhf.so.3");
  t.add_file("/usr/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3", mktest::make_elf32({}));
  t.add_file("/usr/lib/arm-linux-gnueabihf/libc.so.6", mktest::make_elf32({EM_ARM, "", {"ld-linux-armhf.so.3"}, "", ""}));
  auto fs = open_sysroot(t.path());
  auto r = resolve(*fs, "/bin/app");
  ASSERT_TRUE(r);
  auto n = elf_closure(*fs, {r->path}, EM_ARM);
  EXPECT_THAT(paths(n), UnorderedElementsAre("/lib", "/usr/lib/ld-linux-armhf.so.3",
                                             "/usr/lib/arm-linux-gnueabihf/ld-linux-armhf.so.3",
                                             "/usr/lib/arm-linux-gnueabihf/libc.so.6"));
}

}  // namespace
}  // namespace rootfs
