#include "mkmaster/initrd/busybox_applets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace initrd {
namespace {

std::string cache() {
  const char* c = std::getenv("MKMASTER_CACHE");
  return c && *c ? c : "/var/cache/mkmaster";
}

TEST(BusyboxApplets, FindsTheSortedTableAmongOtherStrings) {
  using namespace std::string_literals;
  std::string blob = "\x7f" "ELF junk\0zeta\0alpha\0"s;  // a short unsorted run first
  std::string table = "[\0[[\0ash\0cat\0cttyhack\0httpd\0ls\0mount\0setsid\0sh\0udhcpc\0zcat\0"s;
  blob += table + "\0\0usage text\0"s;
  auto names = busybox_applets(blob, "x");
  EXPECT_EQ(names, (std::vector<std::string>{"[", "[[", "ash", "cat", "cttyhack", "httpd", "ls", "mount", "setsid",
                                             "sh", "udhcpc", "zcat"}));
}

TEST(BusyboxApplets, RejectsWhatIsNotBusybox) {
  EXPECT_THROW(busybox_applets(std::string("\0a\0b\0c\0", 7), "/bin/bash"), std::runtime_error);
  try {
    busybox_applets("plain text", "/bin/true");
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "/bin/true: no busybox applet table found (is it busybox?)");
  }
}

// The real armhf busybox from the sysroot (scripts/setup.sh fetches it).
TEST(BusyboxApplets, RealArmhfBusybox) {
  std::string path = cache() + "/armhf/sysroot/bin/busybox";
  std::ifstream f(path, std::ios::binary);
  ASSERT_TRUE(f) << "missing " << path << " (run scripts/setup.sh)";
  std::stringstream ss;
  ss << f.rdbuf();
  auto names = busybox_applets(ss.str(), path);
  EXPECT_GT(names.size(), 200u);
  for (const char* want : {"sh", "httpd", "udhcpc", "cttyhack", "setsid", "insmod", "wget", "mount"})
    EXPECT_TRUE(std::find(names.begin(), names.end(), want) != names.end()) << want;
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
}

}  // namespace
}  // namespace initrd
