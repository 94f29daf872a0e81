// Module closure on the real Debian armmp modules (sysroot and kernel
// .deb): hard deps, soft deps through aliases, load order, bad names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "mkmaster/rootfs/elf_file.h"
#include "mkmaster/rootfs/kmod_closure.h"
#include "testing/rootfs_fakes.h"

namespace rootfs {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using mktest::RootDir;

std::string module_path(const std::string& name) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(mktest::sysroot_dir() + "/lib/modules"))
    if (e.path().filename() == name) return e.path().string();
  return {};
}

TEST(Modinfo, RealSoftdepAndAlias) {
  REQUIRE_ARMHF_DATA();
  const std::string crc = module_path("crc-t10dif.ko");
  ASSERT_FALSE(crc.empty());
  ModInfo a = parse_modinfo(mktest::slurp(crc), crc);
  EXPECT_EQ(a.name, "crc_t10dif");
  EXPECT_THAT(a.depends, ElementsAre("crct10dif_common"));
  EXPECT_THAT(a.softdep_pre, ElementsAre("crct10dif"));
  EXPECT_TRUE(a.softdep_post.empty());

  const std::string gen = module_path("crct10dif_generic.ko");
  ModInfo g = parse_modinfo(mktest::slurp(gen), gen);
  EXPECT_EQ(g.name, "crct10dif_generic");
  EXPECT_THAT(g.aliases, Contains("crct10dif"));

  const std::string hb = module_path("sata_highbank.ko");
  ModInfo h = parse_modinfo(mktest::slurp(hb), hb);
  EXPECT_THAT(h.depends, ElementsAre("libata", "libahci"));
}

TEST(Modinfo, BadInput) {
  EXPECT_THROW(parse_modinfo("not a module", "x.ko"), RootfsError);
  // An ELF without .modinfo (the synthetic shared object has no sections).
  try {
    parse_modinfo(mktest::make_elf32({}), "/lib/modules/x/none.ko");
    FAIL();
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("none.ko"));
    EXPECT_THAT(e.what(), HasSubstr(".modinfo"));
  }
  REQUIRE_ARMHF_DATA();
  const std::string ko = mktest::slurp(module_path("xgmac.ko"));
  EXPECT_THROW(parse_modinfo(std::string_view(ko).substr(0, ko.size() / 2), "cut.ko"), RootfsError);
}

// Every module comes after each module it depends on (and after what its
// softdep pre: names resolve to); `required` are all present.
void check_order(const FileSource& fs, const std::vector<Module>& mods) {
  std::map<std::string, size_t> pos;
  for (size_t i = 0; i < mods.size(); ++i) {
    EXPECT_TRUE(pos.emplace(mods[i].name, i).second) << "duplicate " << mods[i].name;
  }
  for (const auto& m : mods) {
    ModInfo mi = parse_modinfo(fs.read(m.path), m.path);
    for (const auto& d : mi.depends) {
      ASSERT_TRUE(pos.count(d)) << m.name << " depends on missing " << d;
      EXPECT_LT(pos[d], pos[m.name]) << d << " must load before " << m.name;
    }
  }
}

const std::vector<std::string> kWanted = {"sata_highbank", "sd_mod", "xgmac"};

std::vector<std::string> names(const std::vector<Module>& mods) {
  std::vector<std::string> out;
  for (const auto& m : mods) out.push_back(m.name);
  return out;
}

TEST(ModuleClosure, HighbankModulesFromSysroot) {
  REQUIRE_ARMHF_DATA();
  auto fs = open_sysroot(mktest::sysroot_dir());
  auto kvers = kernel_versions(*fs);
  ASSERT_EQ(kvers.size(), 1u);
  auto t0 = std::chrono::steady_clock::now();
  auto mods = module_closure(*fs, "", kWanted);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cerr << "module closure from the sysroot: " << ms << " ms\n";
  for (const auto& m : mods) std::cerr << "  " << m.name << "  " << m.path << "  (" << m.reason << ")\n";
  auto n = names(mods);
  for (const char* want : {"sata_highbank", "libahci", "libata", "scsi_mod", "scsi_common", "sd_mod", "t10_pi",
                           "crc_t10dif", "crct10dif_common", "crct10dif_generic", "xgmac"})
    EXPECT_THAT(n, Contains(want));
  check_order(*fs, mods);
  std::map<std::string, size_t> pos;
  for (size_t i = 0; i < n.size(); ++i) pos[n[i]] = i;
  // Soft dependency through an alias: a crct10dif implementation loads
  // before crc_t10dif.
  EXPECT_LT(pos["crct10dif_generic"], pos["crc_t10dif"]);
  for (const auto& m : mods) {
    EXPECT_EQ(m.path.rfind("/lib/modules/" + kvers[0] + "/kernel/", 0), 0u) << m.path;
    if (m.name == "crct10dif_generic") {
      EXPECT_EQ(m.reason, "soft dependency (pre) of crc_t10dif via alias crct10dif");
    } else if (m.name == "sd_mod") {
      EXPECT_EQ(m.reason, "requested");
    } else if (m.name == "libahci") {
      EXPECT_EQ(m.reason, "dependency of sata_highbank");
    }
  }
  // Deterministic.
  EXPECT_EQ(names(module_closure(*fs, kvers[0], kWanted)), n);
}

// The generic AHCI platform driver is what pulls in libahci_platform
// (sata_highbank itself only needs libata + libahci).
TEST(ModuleClosure, AhciPlatformPullsLibahciPlatform) {
  REQUIRE_ARMHF_DATA();
  auto fs = open_sysroot(mktest::sysroot_dir());
  auto mods = module_closure(*fs, "", {"ahci_platform"});
  EXPECT_THAT(names(mods), ElementsAre("scsi_common", "scsi_mod", "libata", "libahci", "libahci_platform",
                                       "ahci_platform"));
  // Names may be given with dashes, as modprobe accepts.
  EXPECT_EQ(names(module_closure(*fs, "", {"ahci-platform"})), names(mods));
}

TEST(ModuleClosure, SameFromKernelDeb) {
  REQUIRE_ARMHF_DATA();
  const std::string deb = mktest::find_deb("linux-image-6");
  ASSERT_FALSE(deb.empty());
  auto t0 = std::chrono::steady_clock::now();
  auto debfs = open_debs({deb});
  auto t1 = std::chrono::steady_clock::now();
  auto from_deb = module_closure(*debfs, "", kWanted);
  auto t2 = std::chrono::steady_clock::now();
  std::cerr << "open kernel .deb: " << std::chrono::duration<double>(t1 - t0).count()
            << " s, closure: " << std::chrono::duration<double, std::milli>(t2 - t1).count() << " ms\n";
  auto fs = open_sysroot(mktest::sysroot_dir());
  auto from_sys = module_closure(*fs, "", kWanted);
  ASSERT_EQ(from_deb.size(), from_sys.size());
  for (size_t i = 0; i < from_deb.size(); ++i) {
    EXPECT_EQ(from_deb[i].name, from_sys[i].name);
    EXPECT_EQ(from_deb[i].path, from_sys[i].path);
    EXPECT_EQ(from_deb[i].reason, from_sys[i].reason);
  }
  check_order(*debfs, from_deb);
}

TEST(ModuleClosure, UnknownModuleAndKernel) {
  REQUIRE_ARMHF_DATA();
  auto fs = open_sysroot(mktest::sysroot_dir());
  try {
    module_closure(*fs, "", {"xgmac", "no_such_module"});
    FAIL();
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no_such_module"));
  }
  try {
    module_closure(*fs, "9.9.9-none", {"xgmac"});
    FAIL();
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("9.9.9-none"));
  }
  RootDir empty;
  auto none = open_sysroot(empty.path());
  EXPECT_TRUE(kernel_versions(*none).empty());
  EXPECT_THROW(module_closure(*none, "", {"xgmac"}), RootfsError);
}

// Compressed modules (.ko.xz, .ko.zst), a usrmerged /lib -> usr/lib, a
// builtin dependency, a post softdep and a missing hard dependency.
TEST(ModuleClosure, CompressedModulesBuiltinsAndPostSoftdeps) {
  REQUIRE_ARMHF_DATA();
  auto compress = [](const std::string& data, int filter) {
    std::string buf(data.size() + (1 << 20), '\0');
    size_t used = 0;
    archive* w = archive_write_new();
    archive_write_set_format_raw(w);
    archive_write_add_filter(w, filter);
    archive_write_open_memory(w, buf.data(), buf.size(), &used);
    archive_entry* e = archive_entry_new();
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_pathname(e, "data");
    archive_write_header(w, e);
    archive_write_data(w, data.data(), data.size());
    archive_entry_free(e);
    archive_write_close(w);
    archive_write_free(w);
    buf.resize(used);
    return buf;
  };
  const std::string xgmac = mktest::slurp(module_path("xgmac.ko"));
  const std::string hb = mktest::slurp(module_path("sata_highbank.ko"));
  const std::string ahci = mktest::slurp(module_path("libahci.ko"));
  RootDir t;
  const std::string k = "/usr/lib/modules/9.9";
  t.add_link("/lib", "usr/lib");
  t.add_file(k + "/kernel/net/xgmac.ko.xz", compress(xgmac, ARCHIVE_FILTER_XZ));
  t.add_file(k + "/kernel/ata/sata_highbank.ko.zst", compress(hb, ARCHIVE_FILTER_ZSTD));
  t.add_file(k + "/kernel/ata/libahci.ko", ahci);
  // libata and scsi_mod are built in here.
  t.add_file(k + "/modules.builtin", "kernel/drivers/ata/libata.ko\nkernel/drivers/scsi/scsi_mod.ko\n");
  t.add_file(k + "/kernel/ata/broken.ko.xz", "not xz at all");
  auto fs = open_sysroot(t.path());
  EXPECT_THAT(kernel_versions(*fs), ElementsAre("9.9"));
  auto mods = module_closure(*fs, "9.9", {"sata_highbank", "xgmac"});
  EXPECT_THAT(names(mods), ElementsAre("libahci", "sata_highbank", "xgmac"));
  EXPECT_EQ(mods[1].path, k + "/kernel/ata/sata_highbank.ko.zst");
  try {
    module_closure(*fs, "9.9", {"broken"});
    FAIL();
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("broken.ko.xz"));
  }
  // Without the builtin list, libata is a missing hard dependency.
  std::filesystem::remove(t.host(k + "/modules.builtin"));
  auto fs2 = open_sysroot(t.path());
  try {
    module_closure(*fs2, "9.9", {"sata_highbank"});
    FAIL();
  } catch (const RootfsError& e) {
    EXPECT_THAT(e.what(), HasSubstr("libata"));
    EXPECT_THAT(e.what(), HasSubstr("dependency of sata_highbank"));
  }
}

}  // namespace
}  // namespace rootfs
