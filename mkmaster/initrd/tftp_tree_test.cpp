#include "mkmaster/initrd/tftp_tree.h"
#include "testing/temp_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace initrd {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path fresh_dir(const std::string& name) { return mktest::scratch_dir(name); }

// The template in pxelinux/ renders to the LAVA Highbank setup's menu (plus the fdt line).
TEST(TftpTree, RendersTheSeedsMenu) {
  std::string tmpl = slurp("../../pxelinux/default-arm.in");
  auto files = tftp_files(tmpl, "t", TftpLayout{}, Compression::Gzip, "I", "K", "D");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].rel_path, "master/pxelinux.cfg/default-arm-highbank");
  EXPECT_EQ(files[0].data,
            "DEFAULT menu\nPROMPT 0\nMENU TITLE LAVA Master Image\nTIMEOUT 20\nONTIMEOUT lava-master\n"
            "LABEL lava-master\ninitrd files/highbank/initrd.gz\nMENU LABEL lava-master\n"
            "append console=ttyAMA0 nosplash break\nkernel files/highbank/vmlinuz\n"
            "fdt files/highbank/highbank.dtb\n");
  EXPECT_EQ(files[1].rel_path, "master/files/highbank/initrd.gz");
  EXPECT_EQ(files[2].rel_path, "master/files/highbank/vmlinuz");
  EXPECT_EQ(files[3].rel_path, "master/files/highbank/highbank.dtb");
  auto zst = tftp_files(tmpl, "t", TftpLayout{}, Compression::Zstd, "I", "K", "D");
  EXPECT_THAT(zst[0].data, HasSubstr("initrd files/highbank/initrd.zst\n"));
}

// Another board: its own menu name, directory, dtb and kernel command line.
TEST(TftpTree, AnotherBoardGetsItsOwnNames) {
  std::string tmpl = slurp("../../pxelinux/default-arm.in");
  TftpLayout mid{"files/midway", "default-arm-midway", "ecx-2000.dtb", "console=ttyAMA0 nosplash break"};
  auto files = tftp_files(tmpl, "t", mid, Compression::Gzip, "I", "K", "D");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].rel_path, "master/pxelinux.cfg/default-arm-midway");
  EXPECT_THAT(files[0].data, HasSubstr("initrd files/midway/initrd.gz\nMENU LABEL lava-master\n"
                                       "append console=ttyAMA0 nosplash break\nkernel files/midway/vmlinuz\n"
                                       "fdt files/midway/ecx-2000.dtb\n"));
  EXPECT_EQ(files[1].rel_path, "master/files/midway/initrd.gz");
  EXPECT_EQ(files[2].rel_path, "master/files/midway/vmlinuz");
  EXPECT_EQ(files[3].rel_path, "master/files/midway/ecx-2000.dtb");
}

TEST(TftpTree, TemplateErrorsNameTheLine) {
  EXPECT_EQ(render_template("a @X@ b\nmail me@host and @ alone\n", {{"X", "1"}}, "t"), "a 1 b\nmail me@host and @ alone\n");
  try {
    render_template("DEFAULT menu\nkernel @KERNAL@\n", {{"KERNEL", "k"}}, "default.in");
    FAIL();
  } catch (const TftpError& e) {
    EXPECT_STREQ(e.what(), "default.in:2: unknown template variable @KERNAL@");
  }
}

TEST(TftpTree, WritesEverythingAndLeavesNoTemporaries) {
  fs::path out = fresh_dir("tree");
  write_tree(out.string(), {{"master/a/one", "1"}, {"master/two", "22"}});
  EXPECT_EQ(slurp(out / "master/a/one"), "1");
  EXPECT_EQ(slurp(out / "master/two"), "22");
  write_tree(out.string(), {{"master/two", "333"}});  // replaces atomically
  EXPECT_EQ(slurp(out / "master/two"), "333");
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST(TftpTree, UnwritableOutLeavesNothingHalfWritten) {
  fs::path out = fresh_dir("unwritable");
  std::ofstream(out / "master") << "a file where a directory should be";
  try {
    write_tree(out.string(), {{"master/files/highbank/initrd.gz", "x"}});
    FAIL() << "no error";
  } catch (const TftpError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot create directory " + (out / "master/files/highbank").string()));
  }
  // A failure after some files were written removes their temporaries and
  // replaces nothing.
  fs::path out2 = fresh_dir("partial");
  write_tree(out2.string(), {{"master/ok", "old"}});
  fs::create_directories(out2 / "master/blocked");
  fs::create_directories(out2 / "master/blocked.tmp-" / "x");
  std::ofstream(out2 / "master/sub") << "file";
  EXPECT_THROW(write_tree(out2.string(), {{"master/ok", "new"}, {"master/sub/x", "y"}}), TftpError);
  EXPECT_EQ(slurp(out2 / "master/ok"), "old");
  for (const auto& e : fs::recursive_directory_iterator(out2))
    EXPECT_EQ(e.path().filename().string().find(".tmp-" + std::to_string(::getpid())), std::string::npos) << e.path();
}

}  // namespace
}  // namespace initrd
