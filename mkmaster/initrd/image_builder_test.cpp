#include "mkmaster/initrd/image_builder.h"
#include "mkmaster/initrd/skel.h"

#include <gmock/gmock.h>
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <unistd.h>

#include "mkmaster/initrd/hook_parser.h"
#include "testing/temp_dir.h"

namespace initrd {
namespace {

using ::testing::HasSubstr;

// An in-memory root: no ELF files, so closures are empty and the tests
// exercise the builder's own logic (missing files, policies, links).
class FakeRoot : public rootfs::FileSource {
 public:
  void file(const std::string& p, std::string data, uint32_t mode = 0755, int64_t mtime = 0) {
    files_[p] = {{rootfs::FileType::Regular, mode, data.size(), {}, mtime}, std::move(data)};
    parents(p);
  }
  void link(const std::string& p, std::string target) {
    files_[p] = {{rootfs::FileType::Symlink, 0777, 0, target}, {}};
    parents(p);
  }
  std::optional<rootfs::FileInfo> lstat(const std::string& path) const override {
    auto it = files_.find(path);
    if (it == files_.end()) return std::nullopt;
    return it->second.first;
  }
  std::string read(const std::string& path) const override { return files_.at(path).second; }
  std::vector<std::string> list(const std::string& dir) const override {
    std::vector<std::string> out;
    std::string prefix = dir + "/";
    for (const auto& [p, _] : files_)
      if (p.rfind(prefix, 0) == 0 && p.find('/', prefix.size()) == std::string::npos) out.push_back(p.substr(prefix.size()));
    return out;
  }
  std::string origin(const std::string& path) const override { return "fake " + path; }

 private:
  void parents(const std::string& p) {
    for (size_t s = p.find('/', 1); s != std::string::npos; s = p.find('/', s + 1))
      files_.emplace(p.substr(0, s), std::pair{rootfs::FileInfo{rootfs::FileType::Directory, 0755, 0, {}}, std::string{}});
  }
  std::map<std::string, std::pair<rootfs::FileInfo, std::string>> files_;
};

// The smallest static 32-bit ARM ELF the checks accept: a header, no
// program headers (so no PT_INTERP).
std::string tiny_arm_elf(uint16_t machine = 40) {
  std::string e(52, '\0');
  e[0] = 0x7f, e[1] = 'E', e[2] = 'L', e[3] = 'F';
  e[4] = 1 /*ELFCLASS32*/, e[5] = 1 /*LSB*/, e[6] = 1 /*EV_CURRENT*/;
  e[16] = 2 /*ET_EXEC*/;
  e[18] = static_cast<char>(machine & 0xff), e[19] = static_cast<char>(machine >> 8);
  e[20] = 1;
  e[40] = 52;  // e_ehsize
  return e;
}

std::string temp_file(const std::string& name, const std::string& data) {
  std::string p = mktest::scratch().file(name);
  std::ofstream(p, std::ios::binary) << data;
  return p;
}

FakeRoot fake_root() {
  FakeRoot r;
  r.file("/boot/vmlinuz-6.1.0-test", "KERNEL");
  r.file("/usr/lib/linux-image-6.1.0-test/highbank.dtb", "DTB", 0644);
  r.file("/lib/modules/6.1.0-test/modules.order", "", 0644);
  // busybox's applet table is all the builder reads from it.
  using namespace std::string_literals;
  r.file("/bin/busybox", "ELF\0[\0ash\0cat\0hostname\0ifconfig\0ls\0mount\0rm\0setsid\0sh\0udhcpc\0"s);
  r.file("/sbin/ifconfig", "#!/bin/sh\necho real ifconfig\n");
  r.link("/sbin/mkfs.vfat", "mkfs.fat");
  r.file("/sbin/mkfs.fat", "#!/bin/sh\n");
  r.file("/tmp-free/script", "#!/bin/sh\n");
  return r;
}

BuildOptions options() {
  BuildOptions o;
  static const std::string agent = temp_file("agent", tiny_arm_elf());
  o.agent_path = agent;
  o.epoch = 1700000000;
  o.version = "9.9.9";
  return o;
}

const char* kBase = "kernel auto\ndtb highbank.dtb\nbusybox /bin/busybox\n";

std::string build_error(const Manifest& m, const BuildOptions& o = options()) {
  try {
    build_image(fake_root(), m, o);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

// SOURCE_DATE_EPOCH unset: the stamp is the newest regular file taken from
// the root, not 1970 and not the time of the build; files the manifest does
// not take do not count.
TEST(ImageBuilder, UnsetEpochStampsTheNewestRootFile) {
  FakeRoot r = fake_root();
  r.file("/sbin/ifconfig", "#!/bin/sh\n", 0755, 1600000000);
  r.file("/usr/lib/linux-image-6.1.0-test/highbank.dtb", "DTB", 0644, 1700000000);
  r.file("/sbin/not-taken", "#!/bin/sh\n", 0755, 1800000000);
  BuildOptions o = options();
  o.epoch.reset();
  auto img = build_image(r, parse_manifest(std::string(kBase) + "exec /sbin/ifconfig\n", "m"), o);
  EXPECT_EQ(img.epoch, 1700000000);
  EXPECT_EQ(img.stamp, "2023.11.14-22.13.20 mkmaster 9.9.9");
  // An explicit epoch wins over the files.
  o.epoch = 1500000000;
  EXPECT_EQ(build_image(r, parse_manifest(std::string(kBase) + "exec /sbin/ifconfig\n", "m"), o).epoch, 1500000000);
}

TEST(ImageBuilder, GeneratedFilesKernelAndApplets) {
  auto m = parse_manifest(std::string(kBase) + "exec /sbin/ifconfig\nexec /sbin/mkfs.vfat\ndir /lava\n", "m");
  auto img = build_image(fake_root(), m, options());
  EXPECT_EQ(img.kernel_version, "6.1.0-test");
  EXPECT_EQ(img.vmlinuz, "KERNEL");
  EXPECT_EQ(img.dtb, "DTB");
  for (const char* p : {"init", "scripts/functions", "usr/share/udhcpc/default.script", "sbin/target-agent",
                        "sbin/lava-master-image-info", "dev/console", "proc", "sys", "tmp", "lava"})
    EXPECT_TRUE(img.cpio.contains(p)) << p;
  // The pipeline's start script, where the image contract says.
  const auto* start = img.cpio.find(std::string(contract::kStartAgentPath).substr(1));
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->mode & 07777, 0755u);
  EXPECT_EQ(start->data, skel("start-agent"));
  EXPECT_EQ(img.cpio.find("dev/console")->kind, CpioEntry::Kind::CharDev);
  EXPECT_EQ(img.cpio.find("sbin/lava-master-image-info")->data, "#!/bin/sh\necho '2023.11.14-22.13.20 mkmaster 9.9.9'\n");
  EXPECT_EQ(img.stamp, "2023.11.14-22.13.20 mkmaster 9.9.9");
  // The symlink chain and its target both go in.
  EXPECT_EQ(img.cpio.find("sbin/mkfs.vfat")->kind, CpioEntry::Kind::Symlink);
  EXPECT_EQ(img.cpio.find("sbin/mkfs.fat")->kind, CpioEntry::Kind::File);
  // Applets link to busybox, except where a real tool exists.
  EXPECT_EQ(img.cpio.find("bin/sh")->data, "/bin/busybox");
  EXPECT_EQ(img.cpio.find("bin/udhcpc")->data, "/bin/busybox");
  EXPECT_FALSE(img.cpio.contains("bin/ifconfig"));
  EXPECT_EQ(img.cpio.find("sbin/ifconfig")->kind, CpioEntry::Kind::File);
  // --list: every entry with a reason.
  auto it = std::find_if(img.listing.begin(), img.listing.end(), [](const Listed& l) { return l.path == "/sbin/mkfs.fat"; });
  ASSERT_NE(it, img.listing.end());
  EXPECT_EQ(it->reason, "exec /sbin/mkfs.vfat (m:5)");
  EXPECT_EQ(it->origin, "fake /sbin/mkfs.fat");
  EXPECT_TRUE(std::is_sorted(img.listing.begin(), img.listing.end(),
                             [](const Listed& a, const Listed& b) { return a.path < b.path; }));
}

TEST(ImageBuilder, MissingToolNamesTheLine) {
  EXPECT_EQ(build_error(parse_manifest(std::string(kBase) + "\nexec /bin/nothere\n", "master.manifest")),
            "master.manifest:5: exec /bin/nothere: not found in the target root");
  auto img = build_image(fake_root(), parse_manifest(std::string(kBase) + "exec? /bin/nothere\n", "m"), options());
  ASSERT_EQ(img.notes.size(), 1u);
  EXPECT_EQ(img.notes[0], "m:4: exec /bin/nothere: not in the target root, skipped (optional)");
}

TEST(ImageBuilder, HookMissingPolicy) {
  auto m = parse_manifest(kBase, "base");
  merge(m, parse_hook("copy_exec /lib/arm-linux-gnueabihf/libtinfo.so.5\ncopy_exec /sbin/ifconfig\n", "master-extras"));
  EXPECT_EQ(build_error(m), "1 hook line not found in the target root (--hook-missing=warn skips such hook lines):\n"
                            "  master-extras:1: exec /lib/arm-linux-gnueabihf/libtinfo.so.5");
  auto o = options();
  o.hook_missing = MissingPolicy::Warn;
  auto img = build_image(fake_root(), m, o);
  ASSERT_EQ(img.warnings.size(), 1u);
  EXPECT_EQ(img.warnings[0], "master-extras:1: exec /lib/arm-linux-gnueabihf/libtinfo.so.5: not in the target root, "
                             "skipped (--hook-missing=warn)");
  EXPECT_TRUE(img.cpio.contains("sbin/ifconfig"));
  EXPECT_EQ(parse_missing_policy("warn"), MissingPolicy::Warn);
  EXPECT_THROW(parse_missing_policy("ignore"), BuildError);
}

TEST(ImageBuilder, EveryMissingHookLineIsReportedAtOnce) {
  auto m = parse_manifest(kBase, "base");
  std::string hook;
  for (int i = 1; i <= 9; ++i) hook += fmt::format("copy_exec /sbin/gone{}\n", i);
  merge(m, parse_hook(hook, "master-extras"));
  const std::string e = build_error(m);
  EXPECT_EQ(e.rfind("9 hook lines not found in the target root", 0), 0u) << e;
  for (int i = 1; i <= 9; ++i) EXPECT_NE(e.find(fmt::format("master-extras:{}: exec /sbin/gone{}", i, i)), std::string::npos) << e;
}

TEST(ImageBuilder, HookLinesProvidedByAnotherRouteSaySo) {
  // The seed's `copy_exec /bin/nc` and `copy_exec /etc/fstab` against an
  // unpacked root: hook-base.manifest gives the image both another way.
  auto m = parse_manifest(std::string(kBase) + "symlink /bin/nc -> nc.openbsd\n", "hook-base.manifest");
  merge(m, parse_hook("copy_exec /bin/nc\n", "master-extras"));
  const auto img = build_image(fake_root(), m, options());  // the default policy, error: not an error
  ASSERT_EQ(img.warnings.size(), 1u);
  EXPECT_EQ(img.warnings[0], "master-extras:1: exec /bin/nc: not in the target root; the image has /bin/nc from "
                             "symlink -> nc.openbsd (hook-base.manifest:4)");
}

TEST(ImageBuilder, HookDestDirectoryGetsTheBasename) {
  auto m = parse_manifest(kBase, "base");
  merge(m, parse_hook("copy_exec /tmp-free/script /sbin\ncopy_file x /tmp-free/script /etc/renamed\n", "h"));
  auto img = build_image(fake_root(), m, options());
  EXPECT_TRUE(img.cpio.contains("sbin/script"));
  EXPECT_TRUE(img.cpio.contains("etc/renamed"));
}

TEST(ImageBuilder, BadAgentKernelAndConflicts) {
  auto o = options();
  o.agent_path = "/nonexistent/target-agent";
  EXPECT_THAT(build_error(parse_manifest(kBase, "m"), o), HasSubstr("target-agent /nonexistent/target-agent: cannot read"));
  o.agent_path = temp_file("x86agent", tiny_arm_elf(62));
  EXPECT_THAT(build_error(parse_manifest(kBase, "m"), o), HasSubstr("not a 32-bit ARM binary (machine 62)"));
  o.agent_path = temp_file("script-agent", "#!/bin/sh\n");
  EXPECT_THAT(build_error(parse_manifest(kBase, "m"), o), HasSubstr("not an ELF file"));
  EXPECT_EQ(build_error(parse_manifest("dtb highbank.dtb\n", "m")),
            "the manifest has no 'kernel' line (e.g. 'kernel auto')");
  EXPECT_THAT(build_error(parse_manifest("kernel 5.0\ndtb highbank.dtb\n", "m")),
              HasSubstr("m:1: kernel 5.0: /boot/vmlinuz-5.0 not found in the target root"));
  auto two = parse_manifest(kBase, "m");
  merge(two, parse_manifest("dtb other.dtb\n", "n"));
  EXPECT_THAT(build_error(two), HasSubstr("n:1: dtb other.dtb conflicts with dtb highbank.dtb at m:2"));
  EXPECT_THAT(build_error(parse_manifest(std::string(kBase) + "symlink /sbin/ifconfig -> x\nexec /sbin/ifconfig\n", "m")),
              HasSubstr("m:5: exec /sbin/ifconfig: /sbin/ifconfig added twice with different contents (symlink vs file)"));
  EXPECT_THAT(build_error(parse_manifest(std::string(kBase) + "local nothere /etc/x\n", "/m/m")),
              HasSubstr("/m/m:4: local /m/nothere: /m/nothere: cannot read"));
}

// A root with two kernel flavours side by side, as armmp and armmp-lpae.
FakeRoot two_flavour_root() {
  FakeRoot r = fake_root();
  r.file("/boot/vmlinuz-6.1.0-test-lpae", "LPAE KERNEL");
  r.file("/usr/lib/linux-image-6.1.0-test-lpae/ecx-2000.dtb", "MIDWAY DTB", 0644);
  r.file("/lib/modules/6.1.0-test-lpae/modules.order", "", 0644);
  return r;
}

BoardPart part(const std::string& name, const std::string& flavour, const std::string& dtb) {
  BoardPart p;
  p.name = name;
  p.kernel_flavour = flavour;
  p.flavour_where = "boards/" + name + ".ini:3: kernel_flavour";
  Item d;
  d.kind = Item::Kind::Dtb;
  d.path = dtb;
  d.where = {"boards/" + name + ".ini", 4};
  p.items.items.push_back(d);
  return p;
}

const char* kShared = "kernel auto\nbusybox /bin/busybox\n";

TEST(ImageBuilder, EachBoardGetsItsFlavourAndDtbOnTheSharedContent) {
  auto root = two_flavour_root();
  auto imgs = build_images(root, parse_manifest(kShared, "m"),
                           {part("hb", "test", "highbank.dtb"), part("mw", "lpae", "ecx-2000.dtb")}, options());
  ASSERT_EQ(imgs.size(), 2u);
  EXPECT_EQ(imgs[0].kernel_version, "6.1.0-test");
  EXPECT_EQ(imgs[0].vmlinuz, "KERNEL");
  EXPECT_EQ(imgs[0].dtb, "DTB");
  EXPECT_EQ(imgs[0].dtb_from.path, "highbank.dtb");
  EXPECT_THAT(imgs[0].dtb_from.reason, HasSubstr("boards/hb.ini:4"));
  EXPECT_EQ(imgs[1].kernel_version, "6.1.0-test-lpae");
  EXPECT_EQ(imgs[1].vmlinuz, "LPAE KERNEL");
  EXPECT_EQ(imgs[1].dtb, "MIDWAY DTB");
  // The shared content is the same in both.
  EXPECT_EQ(imgs[0].cpio.entries().size(), imgs[1].cpio.entries().size());
  EXPECT_EQ(imgs[0].listing.size(), imgs[1].listing.size());
}

TEST(ImageBuilder, BoardErrorsNameTheProfileLine) {
  auto root = two_flavour_root();
  auto error = [&](const Manifest& m, const BoardPart& p) {
    try {
      build_images(root, m, {p}, options());
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto m = parse_manifest(kShared, "m");
  EXPECT_THAT(error(m, part("mw", "armmp-lpae", "ecx-2000.dtb")),
              HasSubstr("boards/mw.ini:3: kernel_flavour: no armmp-lpae kernel under /lib/modules in the root "
                        "(found: 6.1.0-test, 6.1.0-test-lpae)"));
  EXPECT_THAT(error(m, part("mw", "lpae", "nothere.dtb")),
              HasSubstr("boards/mw.ini:4: dtb nothere.dtb: /usr/lib/linux-image-6.1.0-test-lpae/nothere.dtb not found"));
  EXPECT_THAT(error(parse_manifest("kernel 6.1.0-test\n", "m"), part("mw", "lpae", "ecx-2000.dtb")),
              HasSubstr("boards/mw.ini:3: kernel_flavour: kernel 6.1.0-test at m:1 is not of flavour lpae"));
  EXPECT_THAT(error(parse_manifest(std::string(kShared) + "dtb highbank.dtb\n", "m"), part("mw", "lpae", "ecx-2000.dtb")),
              HasSubstr("boards/mw.ini:4: dtb ecx-2000.dtb conflicts with dtb highbank.dtb at m:3"));
  // Without a flavour, two kernels are ambiguous, as before.
  EXPECT_THAT(error(m, part("any", "", "highbank.dtb")), HasSubstr("expected exactly one kernel"));
}

TEST(ImageBuilder, VersionStampUsesTheSeedsDateFormat) {
  EXPECT_EQ(version_stamp(0, "0.1.0"), "1970.01.01-00.00.00 mkmaster 0.1.0");
}

}  // namespace
}  // namespace initrd
