#include "target-agent/mounts.h"

#include <gtest/gtest.h>

#include "testing/files.h"
#include "testing/temp_dir.h"

using namespace agent;

TEST(Mounts, UnescapesOctal) {
  EXPECT_EQ(unescape_mount_field("/mnt/a\\040b\\011c"), "/mnt/a b\tc");
  EXPECT_EQ(unescape_mount_field("/plain"), "/plain");
  EXPECT_EQ(unescape_mount_field("trailing\\04"), "trailing\\04");
}

TEST(Mounts, FindsAFileMountedDirectlyAndIgnoresOthers) {
  mktest::TempDir dir("mounts-test");
  std::string img = (dir / "my img").string(), other = (dir / "other").string();
  mktest::write_file(img, mktest::Bytes{1});
  mktest::write_file(other, mktest::Bytes{1});
  std::string table = (dir / "mounts").string();
  std::string escaped = (dir / "my\\040img").string();
  mktest::write_file(table, "proc /proc proc rw 0 0\n" + escaped + " /mnt/x\\040y ext4 rw 0 0\n");
  auto m = find_mount(img, table);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/mnt/x y");
  EXPECT_FALSE(find_mount(other, table));
}
