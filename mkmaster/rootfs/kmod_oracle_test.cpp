// Cross-check against kmod itself: depmod over a link to the real
// armmp modules, then `modprobe --show-depends`, must name exactly the
// modules module_closure() returns (order: ours is checked deps-first in
// kmod_closure_test; modprobe repeats shared dependencies, so compare sets).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <set>

#include "mkmaster/rootfs/kmod_closure.h"
#include "testing/rootfs_fakes.h"

namespace rootfs {
namespace {

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  EXPECT_EQ(rc, 0) << cmd << "\n" << out;
  return out;
}

TEST(KmodOracle, SameModulesAsModprobe) {
  REQUIRE_ARMHF_DATA();
  ASSERT_TRUE(std::filesystem::exists("/usr/sbin/depmod") || std::filesystem::exists("/sbin/depmod"))
      << "kmod (depmod/modprobe) missing: scripts/setup-host.sh installs it";
  auto fs = open_sysroot(mktest::sysroot_dir());
  auto kvers = kernel_versions(*fs);
  ASSERT_EQ(kvers.size(), 1u);
  const std::string kver = kvers[0];
  const std::string real = mktest::sysroot_dir() + "/lib/modules/" + kver;

  mktest::RootDir t;
  const std::string farm = t.host("/lib/modules/" + kver);
  // One link to the real tree (depmod follows it): depmod writes its
  // indexes here, never into the shared sysroot.
  std::filesystem::create_directories(farm);
  std::filesystem::create_directory_symlink(real + "/kernel", farm + "/kernel");
  std::filesystem::copy_file(real + "/modules.builtin", farm + "/modules.builtin");
  std::filesystem::copy_file(real + "/modules.builtin.modinfo", farm + "/modules.builtin.modinfo");
  std::filesystem::copy_file(real + "/modules.order", farm + "/modules.order");
  run("depmod -b " + t.path() + " " + kver + " 2>&1");

  const std::vector<std::vector<std::string>> cases = {
      {"sata_highbank", "sd_mod", "xgmac"}, {"ahci_platform"}, {"ext4", "vfat", "nls_cp437", "usb_storage"}};
  for (const auto& wanted : cases) {
    std::string args;
    for (const auto& w : wanted) args += " " + w;
    SCOPED_TRACE(args);
    std::set<std::string> theirs;
    for (const auto& w : wanted) {
      std::string out = run("modprobe -C /dev/null -d " + t.path() + " -S " + kver +
                            " --show-depends " + w + " 2>&1");
      size_t i = 0;
      while ((i = out.find("insmod ", i)) != std::string::npos) {
        size_t end = out.find_first_of(" \n", i + 7);
        std::string name = std::filesystem::path(out.substr(i + 7, end - i - 7)).filename().string();
        name = name.substr(0, name.find(".ko"));
        for (auto& c : name)
          if (c == '-') c = '_';
        theirs.insert(name);
        i = end;
      }
    }
    std::set<std::string> ours;
    for (const auto& m : module_closure(*fs, kver, wanted)) ours.insert(m.name);
    EXPECT_FALSE(theirs.empty());
    EXPECT_EQ(ours, theirs);
  }
}

}  // namespace
}  // namespace rootfs
