#include "mkmaster/initrd/hook_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace initrd {
namespace {

using ::testing::HasSubstr;

std::string error_of(std::string_view text) {
  try {
    parse_hook(text, "h");
  } catch (const ManifestError& e) {
    return e.what();
  }
  return "no error";
}

// The LAVA Highbank setup's hook, copied verbatim into hooks/ (tests run in this folder).
TEST(HookParser, ReadsTheSeedsMasterExtras) {
  auto m = load_hook("../../hooks/master-extras");
  // 43 copy_exec lines; the stamp's copy_exec (line 50) is a note, not an item.
  ASSERT_EQ(m.items.size(), 42u);
  EXPECT_EQ(m.items[0].kind, Item::Kind::Exec);
  EXPECT_EQ(m.items[0].path, "/bin/tar");
  EXPECT_EQ(m.items[0].where.str(), "../../hooks/master-extras:2");
  for (const auto& it : m.items) {
    EXPECT_TRUE(it.from_hook);
    EXPECT_EQ(it.path.find("/tmp/"), std::string::npos) << it.path;
  }
  ASSERT_EQ(m.notes.size(), 4u);
  EXPECT_THAT(m.notes[0], HasSubstr("master-extras:47: lava-master-image-info: mkmaster generates"));
  EXPECT_THAT(m.notes[3], HasSubstr("master-extras:50:"));
}

TEST(HookParser, CopyFileModulesAndDest) {
  auto m = parse_hook(
      "#!/bin/sh\nset -e\n. /usr/share/initramfs-tools/hook-functions\n"
      "copy_file config /etc/fstab\ncopy_file binary \"/usr/bin/x\" /sbin/\n"
      "manual_add_modules sata_highbank xgmac\ncopy_exec /tmp/other /sbin\nexit 0\n",
      "h");
  ASSERT_EQ(m.items.size(), 5u);
  EXPECT_EQ(m.items[0].kind, Item::Kind::File);
  EXPECT_EQ(m.items[0].path, "/etc/fstab");
  EXPECT_EQ(m.items[1].path, "/usr/bin/x");
  EXPECT_EQ(m.items[1].dest, "/sbin/");
  EXPECT_EQ(m.items[2].kind, Item::Kind::Module);
  EXPECT_EQ(m.items[3].path, "xgmac");
  EXPECT_EQ(m.items[3].where.line, 6);
  EXPECT_EQ(m.items[4].dest, "/sbin");  // only the stamp idiom is special
}

TEST(HookParser, OtherShellIsAnErrorNamingFileAndLine) {
  EXPECT_EQ(error_of("copy_exec /bin/a\nrm -rf /\n"),
            "h:2: rm: unsupported shell line 'rm -rf /': mkmaster reads hooks, it does not run them "
            "(supported: copy_exec, copy_file, manual_add_modules, . /usr/share/initramfs-tools/hook-functions)");
  EXPECT_THAT(error_of("copy_exec ${DESTDIR}/x\n"), HasSubstr("h:1: copy_exec: '${DESTDIR}/x' needs the shell"));
  EXPECT_THAT(error_of("copy_exec /lib/*.so\n"), HasSubstr("h:1: copy_exec: '/lib/*.so' needs the shell"));
  EXPECT_EQ(error_of("copy_exec\n"), "h:1: copy_exec: expected 'copy_exec SRC [DEST]'");
  EXPECT_EQ(error_of("copy_file /etc/fstab\n"), "h:1: copy_file: expected 'copy_file TYPE SRC [DEST]'");
  EXPECT_EQ(error_of("copy_exec bin/tar\n"), "h:1: copy_exec: 'bin/tar' is not an absolute path");
  EXPECT_EQ(error_of("copy_exec '/bin/tar\n"), "h:1: copy_exec: unterminated quote");
  EXPECT_EQ(error_of(". /etc/profile\n"),
            "h:1: .: only /usr/share/initramfs-tools/hook-functions can be sourced, not '/etc/profile'");
  EXPECT_EQ(error_of("manual_add_modules\n"), "h:1: manual_add_modules: expected 'manual_add_modules MODULE...'");
}

}  // namespace
}  // namespace initrd
