// `mkmaster build` end to end on the real armhf sysroot/.debs ($MKMASTER_CACHE):
// reproducibility, and every bad input exits non-zero with a message naming
// the culprit and leaves no output behind.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "testing/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string cache() {
  const char* c = std::getenv("MKMASTER_CACHE");
  return c && *c ? c : "/var/cache/mkmaster";
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path work(const std::string& name) { return mktest::scratch_dir(name); }

// A stand-in for the static armhf agent: an ELF header is all the checks read.
std::string agent() {
  static std::string path = [] {
    std::string e(52, '\0');
    e[0] = 0x7f, e[1] = 'E', e[2] = 'L', e[3] = 'F', e[4] = 1, e[5] = 1, e[6] = 1, e[16] = 2, e[18] = 40, e[20] = 1,
    e[40] = 52;
    fs::path p = work("agent") / "target-agent";
    std::ofstream(p, std::ios::binary) << e;
    return p.string();
  }();
  return path;
}

struct Result {
  int rc = -1;
  std::string out, err;
};

// epoch "unset" runs mkmaster without SOURCE_DATE_EPOCH in its environment.
Result mkmaster(const std::string& args, const std::string& epoch = "1700000000") {
  fs::path dir = work("run");
  std::string cmd = (epoch == "unset" ? std::string("env -u SOURCE_DATE_EPOCH") : "SOURCE_DATE_EPOCH=" + epoch) + " " MKMASTER_BIN " build --agent " + agent() + " " + args + " >" +
                    (dir / "out").string() + " 2>" + (dir / "err").string();
  int status = std::system(cmd.c_str());
  Result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

std::vector<std::string> tree(const fs::path& out) {
  std::vector<std::string> files;
  if (!fs::exists(out)) return files;
  for (const auto& e : fs::recursive_directory_iterator(out))
    if (e.is_regular_file()) files.push_back(fs::relative(e.path(), out).string());
  std::sort(files.begin(), files.end());
  return files;
}

const std::vector<std::string> kTree = {"master/files/highbank/highbank.dtb", "master/files/highbank/initrd.gz",
                                        "master/files/highbank/vmlinuz", "master/pxelinux.cfg/default-arm-highbank"};

TEST(BuildCli, TwoBuildsAreByteIdentical) {
  fs::path a = work("a"), b = work("b"), c = work("c");
  auto ra = mkmaster("--out " + (a / "tftp").string());
  ASSERT_EQ(ra.rc, 0) << ra.err;
  auto rb = mkmaster("--out " + (b / "tftp").string());
  ASSERT_EQ(rb.rc, 0) << rb.err;
  EXPECT_EQ(tree(a / "tftp"), kTree);
  for (const auto& f : kTree) EXPECT_EQ(slurp(a / "tftp" / f), slurp(b / "tftp" / f)) << f;
  EXPECT_THAT(ra.err, HasSubstr("stamp '2023.11.14-22.13.20 mkmaster"));
  // The epoch is an input: another one gives another initrd.
  auto rc = mkmaster("--out " + (c / "tftp").string(), "1700000001");
  ASSERT_EQ(rc.rc, 0) << rc.err;
  EXPECT_NE(slurp(a / "tftp/master/files/highbank/initrd.gz"), slurp(c / "tftp/master/files/highbank/initrd.gz"));
}

// Without SOURCE_DATE_EPOCH the stamp and mtimes come from the newest file
// taken from the armhf root: still byte-identical twice, and not 1970.
TEST(BuildCli, UnsetEpochIsReproducibleAndNot1970) {
  fs::path a = work("ua"), b = work("ub");
  auto ra = mkmaster("--out " + (a / "tftp").string(), "unset");
  ASSERT_EQ(ra.rc, 0) << ra.err;
  auto rb = mkmaster("--out " + (b / "tftp").string(), "unset");
  ASSERT_EQ(rb.rc, 0) << rb.err;
  for (const auto& f : kTree) EXPECT_EQ(slurp(a / "tftp" / f), slurp(b / "tftp" / f)) << f;
  EXPECT_THAT(ra.err, HasSubstr("SOURCE_DATE_EPOCH unset: stamp and mtimes from the newest file of the root"));
  EXPECT_THAT(ra.err, HasSubstr("stamp '"));
  EXPECT_THAT(ra.err, ::testing::Not(HasSubstr("stamp '1970.")));
}

TEST(BuildCli, ListPrintsWhyAndWritesNothing) {
  fs::path d = work("list");
  auto r = mkmaster("--list --out " + (d / "tftp").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("/bin/bash\texec /bin/bash ("));
  EXPECT_THAT(r.out, HasSubstr("/lib/arm-linux-gnueabihf/libtinfo.so.6\tneeded by "));
  EXPECT_THAT(r.out, HasSubstr("/lib/ld-linux-armhf.so.3\tELF interpreter of "));
  EXPECT_THAT(r.out, HasSubstr("crct10dif_generic: soft dependency (pre) of crc_t10dif"));
  EXPECT_THAT(r.out, HasSubstr("/bin/sh\tbusybox applet"));
  EXPECT_THAT(r.out, HasSubstr("/sbin/target-agent\ttarget-agent"));
  EXPECT_THAT(r.out, HasSubstr("tftp:master/files/highbank/vmlinuz\tkernel auto"));
  EXPECT_FALSE(fs::exists(d / "tftp"));
}

TEST(BuildCli, BadManifestLinesNameFileAndLine) {
  fs::path d = work("badmanifest");
  std::ofstream(d / "m1") << "kernel auto\ndtb highbank.dtb\nexec\n";
  auto r = mkmaster("--manifest " + (d / "m1").string() + " --out " + (d / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.err, "mkmaster: error: " + (d / "m1").string() + ":3: exec: expected 'exec PATH [DEST]', got 0 arguments\n");
  std::ofstream(d / "m2") << "kernel auto\ncopy_exec /bin/bash\n";
  r = mkmaster("--manifest " + (d / "m2").string() + " --out " + (d / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr((d / "m2").string() + ":2: copy_exec: unknown directive"));
  EXPECT_FALSE(fs::exists(d / "tftp"));
}

TEST(BuildCli, MissingToolNamesTheLineAndWritesNothing) {
  fs::path d = work("missing");
  std::ofstream(d / "m") << "kernel auto\ndtb highbank.dtb\nbusybox /bin/busybox\nexec /usr/bin/no-such-tool\n";
  auto r = mkmaster("--manifest " + (d / "m").string() + " --out " + (d / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("mkmaster: error: " + (d / "m").string() +
                               ":4: exec /usr/bin/no-such-tool: not found in the target root"));
  EXPECT_FALSE(fs::exists(d / "tftp"));
  std::ofstream(d / "m3") << "kernel auto\ndtb highbank.dtb\nmodule no_such_module\n";
  r = mkmaster("--manifest " + (d / "m3").string() + " --out " + (d / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr(":3: modules: "));
  EXPECT_THAT(r.err, HasSubstr("no_such_module"));
}

TEST(BuildCli, UnwritableOutFailsCleanly) {
  fs::path d = work("unwritable");
  std::ofstream(d / "file") << "not a directory";
  auto r = mkmaster("--out " + (d / "file" / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("mkmaster: error: cannot create directory " + (d / "file/tftp/master").string()));
  EXPECT_EQ(slurp(d / "file"), "not a directory");
}

TEST(BuildCli, TruncatedDebIsNamed) {
  fs::path d = work("debs");
  fs::path src = fs::path(cache()) / "armhf/debs";
  fs::path deb;
  for (const auto& e : fs::directory_iterator(src))
    if (e.path().filename().string().rfind("bash_", 0) == 0) deb = e.path();
  ASSERT_FALSE(deb.empty()) << "no bash_*.deb in " << src << " (run scripts/setup.sh)";
  std::string bytes = slurp(deb);
  std::ofstream(d / deb.filename(), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto r = mkmaster("--debs " + d.string() + " --out " + (d / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr(deb.filename().string()));
  EXPECT_FALSE(fs::exists(d / "tftp"));
}

TEST(BuildCli, SeedHookNeedsThePolicyForFilesBookwormLacks) {
  fs::path d = work("hook");
  const std::string hook = MKMASTER_SOURCE_DIR "/hooks/master-extras";
  auto r = mkmaster("--hook " + hook + " --out " + (d / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  // Every line bookworm cannot satisfy, in one error; /bin/nc (a dpkg
  // alternative) and /etc/fstab are not among them: hook-base.manifest
  // gives the image both.
  EXPECT_THAT(r.err, HasSubstr("hook lines not found in the target root (--hook-missing=warn skips such hook lines):"));
  EXPECT_THAT(r.err, HasSubstr(":27: exec /lib/arm-linux-gnueabihf/libnss_compat-2.15.so\n"));
  EXPECT_THAT(r.err, HasSubstr(":41: exec /lib/arm-linux-gnueabihf/libtinfo.so.5"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr(":16: exec /bin/nc\n")));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr(":26: exec /etc/fstab\n")));
  r = mkmaster("--hook " + hook + " --hook-missing=warn --out " + (d / "tftp").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("warning: " + hook + ":27: exec /lib/arm-linux-gnueabihf/libnss_compat-2.15.so: not in "
                               "the target root, skipped (--hook-missing=warn)"));
  EXPECT_THAT(r.err, HasSubstr(":41: exec /lib/arm-linux-gnueabihf/libtinfo.so.5: not in the target root"));
  EXPECT_THAT(r.err, HasSubstr(":26: exec /etc/fstab: not in the target root; the image has /etc/fstab from local "));
  EXPECT_THAT(r.err, HasSubstr(":16: exec /bin/nc: not in the target root; the image has /bin/nc from symlink -> "
                               "nc.openbsd (" MKMASTER_SOURCE_DIR "/hooks/hook-base.manifest:13)"));
  EXPECT_THAT(r.err, HasSubstr("note: " + hook + ":47: lava-master-image-info: mkmaster generates this stamp"));
  EXPECT_EQ(tree(d / "tftp"), kTree);
}

TEST(BuildCli, BadOptionValues) {
  auto r = mkmaster("--compress lz4 --list");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown compression 'lz4'"));
  r = mkmaster("--list", "yesterday");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("SOURCE_DATE_EPOCH='yesterday'"));
  r = mkmaster("--list --hook-missing=ignore");
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("unknown --hook-missing policy 'ignore'"));
}

std::string fmt_line(const std::string& path, long line) { return path + ":" + std::to_string(line) + ": "; }

const std::vector<std::string> kAllTree = {
    "master/files/highbank/highbank.dtb", "master/files/highbank/initrd.gz", "master/files/highbank/vmlinuz",
    "master/files/midway/ecx-2000.dtb",   "master/files/midway/initrd.gz",   "master/files/midway/vmlinuz",
    "master/pxelinux.cfg/default-arm-highbank", "master/pxelinux.cfg/default-arm-midway"};

TEST(BuildCli, EveryBoardInOneTreeEachReproducible) {
  fs::path a = work("all-a"), b = work("all-b"), h = work("hb-only");
  auto ra = mkmaster("--board all --out " + a.string());
  ASSERT_EQ(ra.rc, 0) << ra.err;
  auto rb = mkmaster("--board midway --board highbank --out " + b.string());
  ASSERT_EQ(rb.rc, 0) << rb.err;
  EXPECT_EQ(tree(a), kAllTree);
  for (const auto& f : kAllTree) EXPECT_EQ(slurp(a / f), slurp(b / f)) << f;
  // Highbank's files do not depend on which other boards are built with it.
  ASSERT_EQ(mkmaster("--out " + h.string()).rc, 0);
  for (const auto& f : kTree) EXPECT_EQ(slurp(a / f), slurp(h / f)) << f;
  EXPECT_THAT(slurp(a / "master/pxelinux.cfg/default-arm-midway"),
              HasSubstr("initrd files/midway/initrd.gz\nMENU LABEL lava-master\nappend console=ttyAMA0 nosplash break\n"
                        "kernel files/midway/vmlinuz\nfdt files/midway/ecx-2000.dtb\n"));
  // The shared content is resolved once for both boards.
  EXPECT_EQ(ra.err.find("resolving"), ra.err.rfind("resolving")) << ra.err;
}

TEST(BuildCli, ListBoardsPrintsTheProfiles) {
  auto r = mkmaster("--list-boards");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("highbank\tqemu -M highbank\tarmmp kernel\thighbank.dtb\tfiles/highbank\tLAVA highbank"));
  EXPECT_THAT(r.out, HasSubstr("midway\tqemu -M midway\tarmmp kernel\tecx-2000.dtb\tfiles/midway\tLAVA highbank"));
}

TEST(BuildCli, BadBoardsAreNamed) {
  fs::path d = work("badboards");
  auto r = mkmaster("--board panda --out " + (d / "tftp").string());
  EXPECT_EQ(r.rc, 1);
  EXPECT_THAT(r.err, HasSubstr("--board: unknown board 'panda'"));
  EXPECT_THAT(r.err, HasSubstr("known: highbank, midway"));
  r = mkmaster("--board all --board highbank --out " + (d / "tftp").string());
  EXPECT_THAT(r.err, HasSubstr("--board all: give it alone"));
  // A profile whose dtb, module or kernel flavour the sysroot lacks.
  fs::path boards = d / "boards";
  fs::create_directories(boards);
  std::string base = slurp(fs::path(MKMASTER_SOURCE_DIR) / "boards/midway.ini");
  // Writes midway.ini with `from` replaced by `to` as NAME.ini, builds it,
  // and expects an error at "NAME.ini:<line of from>: <what>".
  auto fails_at = [&](const std::string& name, const std::string& from, const std::string& to, const std::string& what) {
    std::string t = base;
    size_t at = t.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    t.replace(at, from.size(), to);
    std::ofstream(boards / (name + ".ini")) << t;
    auto line = std::count(t.begin(), t.begin() + static_cast<long>(at), '\n') + 1;
    auto r = mkmaster("--boards-dir " + boards.string() + " --board " + name + " --out " + (d / "tftp").string());
    EXPECT_EQ(r.rc, 1) << name;
    EXPECT_THAT(r.err, HasSubstr(fmt_line((boards / (name + ".ini")).string(), line) + what));
  };
  fails_at("nodtb", "dtb = ecx-2000.dtb", "dtb = ecx-3000.dtb", "dtb ecx-3000.dtb: /usr/lib/linux-image-");
  fails_at("nomod", "modules = sata_highbank", "modules = no_such_sata sata_highbank",
           "modules: unknown kernel module 'no_such_sata'");
  fails_at("lpae", "kernel_flavour = armmp", "kernel_flavour = armmp-lpae", "kernel_flavour: no armmp-lpae kernel");
  fails_at("typo", "console = ttyAMA0", "consle = ttyAMA0", "consle: unknown field");
  EXPECT_FALSE(fs::exists(d / "tftp"));
}

// Reading the .debs directly gives the very same initrd as the unpacked sysroot.
TEST(BuildCliSlow, DebsAndSysrootGiveTheSameImage) {
  fs::path a = work("viasysroot"), b = work("viadebs");
  auto ra = mkmaster("--compress zstd --out " + a.string());
  ASSERT_EQ(ra.rc, 0) << ra.err;
  auto rb = mkmaster("--compress zstd --debs " + (fs::path(cache()) / "armhf/debs").string() + " --out " + b.string());
  ASSERT_EQ(rb.rc, 0) << rb.err;
  EXPECT_EQ(slurp(a / "master/files/highbank/initrd.zst"), slurp(b / "master/files/highbank/initrd.zst"));
  EXPECT_THAT(slurp(a / "master/pxelinux.cfg/default-arm-highbank"), HasSubstr("initrd files/highbank/initrd.zst\n"));
}

}  // namespace
