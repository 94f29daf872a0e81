// The ELF parser on real armhf and host binaries, synthetic objects, and
// every kind of damaged input (must throw RootfsError, never crash).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "mkmaster/rootfs/elf_closure.h"
#include "mkmaster/rootfs/elf_file.h"
#include "testing/rootfs_fakes.h"

namespace rootfs {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ElfParse, RealArmhfBash) {
  REQUIRE_ARMHF_DATA();
  const std::string bytes = mktest::slurp(mktest::sysroot_dir() + "/bin/bash");
  ASSERT_TRUE(is_elf(bytes));
  ElfInfo info = parse_elf(bytes, "/bin/bash");
  EXPECT_EQ(info.machine, EM_ARM);
  EXPECT_FALSE(info.is_64bit);
  EXPECT_EQ(info.interp, "/lib/ld-linux-armhf.so.3");
  EXPECT_THAT(info.needed, ElementsAre("libtinfo.so.6", "libc.so.6", "ld-linux-armhf.so.3"));
  EXPECT_TRUE(info.rpath.empty());
  EXPECT_TRUE(info.runpath.empty());
}

TEST(ElfParse, HostBinaryIsX86_64) {
  const std::string bytes = mktest::slurp("/bin/ls");
  ASSERT_FALSE(bytes.empty());
  ElfInfo info = parse_elf(bytes, "/bin/ls");
  EXPECT_EQ(info.machine, EM_X86_64);
  EXPECT_TRUE(info.is_64bit);
  EXPECT_THAT(info.needed, ::testing::Contains("libc.so.6"));
  EXPECT_EQ(elf::machine_name(info.machine), "x86-64");
}

TEST(ElfParse, SyntheticRpathRunpathInterp) {
  const std::string bytes = mktest::make_elf32(
      {EM_ARM, "/lib/ld-linux-armhf.so.3", {"liba.so.1", "libb.so.2"}, "/opt/r1:$ORIGIN/../r2", "/opt/ru"});
  ElfInfo info = parse_elf(bytes, "synthetic");
  EXPECT_EQ(info.interp, "/lib/ld-linux-armhf.so.3");
  EXPECT_THAT(info.needed, ElementsAre("liba.so.1", "libb.so.2"));
  EXPECT_THAT(info.rpath, ElementsAre("/opt/r1", "$ORIGIN/../r2"));
  EXPECT_THAT(info.runpath, ElementsAre("/opt/ru"));
}

TEST(ElfParse, SectionLookupOnRealModule) {
  REQUIRE_ARMHF_DATA();
  auto mods = mktest::sysroot_dir() + "/lib/modules";
  std::string ko;
  for (const auto& e : std::filesystem::recursive_directory_iterator(mods))
    if (e.path().filename() == "xgmac.ko") ko = e.path().string();
  ASSERT_FALSE(ko.empty());
  const std::string bytes = mktest::slurp(ko);
  elf::File f(bytes, ko);
  EXPECT_EQ(f.type(), ET_REL);
  auto s = f.section(".modinfo");
  ASSERT_TRUE(s);
  EXPECT_THAT(std::string(f.range(s->offset, s->size, ".modinfo")), HasSubstr("name=xgmac"));
  EXPECT_FALSE(f.section(".no-such-section"));
}

TEST(ElfParse, NotElf) {
  EXPECT_FALSE(is_elf("#!/bin/sh\necho hi\n"));
  EXPECT_FALSE(is_elf(""));
  try {
    parse_elf("#!/bin/sh\n", "/bin/script");
    FAIL();
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/bin/script"));
    EXPECT_THAT(e.what(), HasSubstr("not an ELF"));
  }
}

// Every cut of a real binary throws a RootfsError naming the file: the
// section header table sits at the end, so no prefix is a complete ELF.
TEST(ElfParse, EveryTruncationOfBashThrows) {
  REQUIRE_ARMHF_DATA();
  const std::string bytes = mktest::slurp(mktest::sysroot_dir() + "/bin/bash");
  std::vector<size_t> cuts = {0, 3, 4, 20, 51, 52, 60, 100, 300, 1000};
  for (size_t c = 2000; c < bytes.size(); c += 7919) cuts.push_back(c);
  cuts.push_back(bytes.size() - 1);
  for (size_t cut : cuts) {
    SCOPED_TRACE(cut);
    try {
      parse_elf(std::string_view(bytes).substr(0, cut), "bash-cut");
      ADD_FAILURE() << "parsed a truncated ELF";
    } catch (const RootfsError& e) {
      EXPECT_THAT(e.what(), HasSubstr("bash-cut"));
    }
  }
}

TEST(ElfParse, TruncatedDynamicStringsThrow) {
  std::string bytes = mktest::make_elf32({EM_ARM, "", {"libfoo.so.1"}, "", ""});
  // Cut inside the dynamic array (it is last in the synthetic layout).
  EXPECT_THROW(parse_elf(std::string_view(bytes).substr(0, bytes.size() - 4), "short"), RootfsError);
}

// Random corruption must never read out of bounds (ASan checks) — it
// either parses or throws RootfsError.
TEST(ElfParse, CorruptedHeadersNeverCrash) {
  REQUIRE_ARMHF_DATA();
  const std::string orig = mktest::slurp(mktest::sysroot_dir() + "/bin/bash");
  std::mt19937 rng(12345);
  int threw = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string b = orig;
    for (int k = 0; k < 4; ++k) {
      // Mostly the header and program headers, where offsets live.
      size_t pos = (k % 2 == 0) ? rng() % 400 : rng() % b.size();
      b[pos] = static_cast<char>(rng());
    }
    try {
      parse_elf(b, "fuzz");
    } catch (const RootfsError&) {
      ++threw;
    }
  }
  EXPECT_GT(threw, 0);
}

}  // namespace
}  // namespace rootfs
