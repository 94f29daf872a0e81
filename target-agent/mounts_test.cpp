#include "target-agent/mounts.h"

#include <gtest/gtest.h>

#include "target-agent/agent_test_util.h"

using namespace agent;

TEST(Mounts, UnescapesOctal) {
  EXPECT_EQ(unescape_mount_field("/mnt/a\\040b\\011c"), "/mnt/a b\tc");
  EXPECT_EQ(unescape_mount_field("/plain"), "/plain");
  EXPECT_EQ(unescape_mount_field("trailing\\04"), "trailing\\04");
}

TEST(Mounts, FindsAFileMountedDirectlyAndIgnoresOthers) {
  auto dir = std::filesystem::temp_directory_path() / ("mounts-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string img = (dir / "my img").string(), other = (dir / "other").string();
  agent_test::write_file(img, {1});
  agent_test::write_file(other, {1});
  std::string table = (dir / "mounts").string();
  std::string escaped = (dir / "my\\040img").string();
  agent_test::write_file(table, [&] {
    std::string t = "proc /proc proc rw 0 0\n" + escaped + " /mnt/x\\040y ext4 rw 0 0\n";
    return std::vector<uint8_t>(t.begin(), t.end());
  }());
  auto m = find_mount(img, table);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->mount_point, "/mnt/x y");
  EXPECT_FALSE(find_mount(other, table));
  std::filesystem::remove_all(dir);
}
