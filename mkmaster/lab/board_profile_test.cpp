#include "mkmaster/lab/board_profile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mkmaster/lab/config_error.h"

namespace lab {
namespace {

using ::testing::HasSubstr;

const std::string kBoards = MKMASTER_BOARDS_DIR;

const std::string kGood =
    "[board]\n"
    "qemu_machine = midway\n"
    "kernel_flavour = armmp\n"
    "dtb = ecx-2000.dtb\n"
    "modules = sata_highbank sd_mod xgmac\n"
    "console = ttyAMA0\n"
    "kernel_args = nosplash break\n"
    "tftp_dir = files/midway\n"
    "menu = default-arm-midway\n"
    "lava_device_type = highbank\n";

std::string error_of(const std::string& text, const std::string& path = "boards/x.ini") {
  try {
    parse_board_profile(text, path);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

// Replaces the line starting with `key =` (or appends `line` if key is empty).
std::string with(const std::string& key, const std::string& line) {
  std::string t = kGood;
  auto p = t.find("\n" + key + " =");
  if (p == std::string::npos) return t + line + "\n";
  auto e = t.find('\n', p + 1);
  return t.substr(0, p + 1) + line + t.substr(e);
}

TEST(BoardProfile, ParsesEveryField) {
  auto b = parse_board_profile(kGood, "/d/boards/midway.ini");
  EXPECT_EQ(b.name, "midway");
  EXPECT_EQ(b.qemu_machine, "midway");
  EXPECT_EQ(b.dtb, "ecx-2000.dtb");
  EXPECT_EQ(b.modules, (std::vector<std::string>{"sata_highbank", "sd_mod", "xgmac"}));
  EXPECT_EQ(b.kernel_args, "nosplash break");
  EXPECT_EQ(b.tftp_dir, "files/midway");
  EXPECT_EQ(b.menu, "default-arm-midway");
  EXPECT_EQ(b.lava_device_type, "highbank");
  EXPECT_EQ(b.where("dtb"), "/d/boards/midway.ini:4: dtb");
  // One line per value, as everywhere in the lab's INI files: a
  // continuation line is refused, naming it.
  try {
    parse_board_profile(with("modules", "modules = sata_highbank\n  sd_mod\n  xgmac"), "m.ini");
    ADD_FAILURE() << "a continuation line was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("m.ini:6:modules: indented line"), std::string::npos) << e.what();
  }
}

TEST(BoardProfile, TheShippedProfilesLoad) {
  EXPECT_EQ(board_names(kBoards), (std::vector<std::string>{"highbank", "midway"}));
  auto h = load_board_profile(kBoards, "highbank", "test");
  // Highbank keeps the LAVA Highbank setup's names.
  EXPECT_EQ(h.tftp_dir, "files/highbank");
  EXPECT_EQ(h.menu, "default-arm-highbank");
  EXPECT_EQ(h.console, "ttyAMA0");
  EXPECT_EQ(h.kernel_args, "nosplash break");
  EXPECT_EQ(h.dtb, "highbank.dtb");
  auto m = load_board_profile(kBoards, "midway", "test");
  EXPECT_EQ(m.qemu_machine, "midway");
  EXPECT_EQ(m.dtb, "ecx-2000.dtb");
}

TEST(BoardProfile, UnknownBoardNamesWhoAskedAndTheKnownOnes) {
  try {
    load_board_profile(kBoards, "panda", "lab.ini:7: device_type");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("lab.ini:7: device_type: unknown board 'panda'"));
    EXPECT_THAT(e.what(), HasSubstr("known: highbank, midway"));
  }
  // A name that is not a file name is unknown, never a path.
  EXPECT_THROW(load_board_profile(kBoards, "../boards/highbank", "--board"), ConfigError);
}

TEST(BoardProfile, BadInputNamesFileLineAndField) {
  EXPECT_EQ(error_of(with("dtb", "dtb = ../x.dtb")), "boards/x.ini:4: dtb: '../x.dtb' is not a .dtb file name like 'highbank.dtb'");
  EXPECT_THAT(error_of(with("console", "console = ttyAMA0 init=/bin/sh")), HasSubstr("boards/x.ini:6: console:"));
  EXPECT_THAT(error_of(with("kernel_args", "kernel_args = a;reboot")), HasSubstr("boards/x.ini:7: kernel_args:"));
  EXPECT_THAT(error_of(with("tftp_dir", "tftp_dir = ../etc")), HasSubstr("boards/x.ini:8: tftp_dir:"));
  EXPECT_THAT(error_of(with("tftp_dir", "tftp_dir = /srv")), HasSubstr("boards/x.ini:8: tftp_dir:"));
  EXPECT_THAT(error_of(with("qemu_machine", "qemu_machine = midway -S")), HasSubstr("boards/x.ini:2: qemu_machine:"));
  EXPECT_THAT(error_of(with("modules", "modules = sata_highbank ../evil")), HasSubstr("boards/x.ini:5: modules:"));
  EXPECT_THAT(error_of(with("", "colour = blue")), HasSubstr("boards/x.ini:11: colour: unknown field"));
  EXPECT_THAT(error_of(with("menu", "")), HasSubstr("boards/x.ini:1: menu: required"));
  EXPECT_THAT(error_of(with("modules", "")), HasSubstr("boards/x.ini:1: modules: required"));
  EXPECT_THAT(error_of("kernel_flavour = armmp\n"), HasSubstr("boards/x.ini:1: kernel_flavour: key outside [board]"));
  EXPECT_THAT(error_of(kGood + "[extra]\n"), HasSubstr("boards/x.ini:11: [extra]: unknown section"));
  EXPECT_THAT(error_of(kGood + "dtb = y.dtb\n"), HasSubstr("boards/x.ini:11:dtb: duplicate"));  // ini_file.h key (ini_file)
  EXPECT_THAT(error_of(kGood, "boards/bad name.ini"), HasSubstr("name: 'bad name' is not a board name"));
}

}  // namespace
}  // namespace lab
