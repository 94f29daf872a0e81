#include "target-agent/rotational.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>

#include "testing/temp_dir.h"

namespace agent {
namespace {

namespace fs = std::filesystem;

// A sysfs of one disk (8:0, spinning) with a partition (8:1), and an SSD (259:0).
fs::path fake_sysfs() {
  fs::path root = mktest::scratch() / "sys";
  auto attr = [](const fs::path& dir, const char* value) {
    fs::create_directories(dir / "queue");
    std::ofstream(dir / "queue" / "rotational") << value << "\n";
  };
  const fs::path sda = root / "devices/pci0/ata1/block/sda";
  attr(sda, "1");
  fs::create_directories(sda / "sda1");
  attr(root / "devices/pci0/nvme/block/nvme0n1", "0");
  fs::create_directories(root / "dev/block");
  fs::create_symlink("../../devices/pci0/ata1/block/sda", root / "dev/block/8:0");
  fs::create_symlink("../../devices/pci0/ata1/block/sda/sda1", root / "dev/block/8:1");
  fs::create_symlink("../../devices/pci0/nvme/block/nvme0n1", root / "dev/block/259:0");
  return root;
}

TEST(Rotational, DiskPartitionAndUnknown) {
  const std::string sys = fake_sysfs().string();
  EXPECT_EQ(rotational_of(makedev(8, 0), sys), std::optional<bool>(true));
  EXPECT_EQ(rotational_of(makedev(8, 1), sys), std::optional<bool>(true)) << "a partition takes its disk's queue";
  EXPECT_EQ(rotational_of(makedev(259, 0), sys), std::optional<bool>(false));
  EXPECT_EQ(rotational_of(makedev(0, 42), sys), std::nullopt) << "an anonymous device (tmpfs) has no queue";
}

}  // namespace
}  // namespace agent
