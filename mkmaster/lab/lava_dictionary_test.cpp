#include "mkmaster/lab/lava_dictionary.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/config_text.h"
#include "mkmaster/lab/labfiles.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace lab {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

namespace {
const std::string kDir = MKMASTER_TEST_DATA;

using mktest::slurp;

// The test inventory with its board profiles, as commands load it.
Inventory lab_inventory() {
  auto inv = load_inventory(kDir + "/lab.ini");
  attach_boards(inv, MKMASTER_BOARDS_DIR);
  return inv;
}

// What a worker would use: the paths appear in the goldens as they are.
LavaOptions worker() {
  LavaOptions o;
  o.mkmaster = "/usr/bin/mkmaster";
  o.inventory = "/etc/mkmaster/lab.ini";
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

// The 4-node test inventory's dictionaries, written by labfiles. Reviewed by
// hand against LAVA's highbank.jinja2/base.jinja2 (docs/lava.md); the
// render test (tests/lava, ctest lava.dictionaries) renders and validates them
// with LAVA's own templates and schema. MKNODE_UPDATE_GOLDEN=1 rewrites them.
TEST(LavaDictionary, GoldenForTheFourNodeInventory) {
  const auto inv = lab_inventory();
  const fs::path out = mktest::scratch_dir("lava-dict");
  write_lab_files(inv, out.string(), "initrd.gz", worker());
  ASSERT_EQ(inv.nodes.size(), 4u);
  for (const auto& n : inv.nodes) {
    const std::string rel = "lava/devices/" + n.name + ".jinja2";
    const fs::path golden = fs::path(kDir) / "golden" / rel;
    if (std::getenv("MKNODE_UPDATE_GOLDEN")) {
      fs::create_directories(golden.parent_path());
      fs::copy_file(out / rel, golden, fs::copy_options::overwrite_existing);
    }
    EXPECT_EQ(slurp(out / rel), slurp(golden)) << "golden file " << golden;
  }
}

TEST(LavaDictionary, CommandsGoThroughMkmasterAndNoPasswordIsWritten) {
  const auto inv = lab_inventory();
  // highbank.conf's connection_command carries `-P admin`: the dictionary
  // names mkmaster console instead, which runs it with the inventory's secret.
  const std::string d = render_lava_dictionary(inv.node("02-01"), worker());
  EXPECT_THAT(d, HasSubstr("{% extends 'highbank.jinja2' %}\n"));
  EXPECT_THAT(d, HasSubstr("/usr/bin/mkmaster console calxeda02-01 --inventory /etc/mkmaster/lab.ini"));
  EXPECT_THAT(d, HasSubstr("'/usr/bin/mkmaster push {IMAGE} calxeda02-01 --inventory /etc/mkmaster/lab.ini"));
  EXPECT_EQ(d.find("-P"), std::string::npos);
  EXPECT_EQ(d.find("ipmitool"), std::string::npos);
  // The delays of the node's device config (highbank.conf: 300 and 100).
  EXPECT_THAT(d, HasSubstr("{% set boot_character_delay = 300 %}"));
  EXPECT_THAT(d, HasSubstr("{% set test_character_delay = 100 %}"));
}

TEST(LavaDictionary, TheDeviceTypeIsOneParameter) {
  // The option's device type counts only where the board names none.
  const auto inv = lab_inventory();
  Node n = inv.node("02-01");
  n.board.lava_device_type.clear();
  auto o = worker();
  o.device_type = "midway";
  const std::string d = render_lava_dictionary(n, o);
  EXPECT_THAT(d, HasSubstr("{% extends 'midway.jinja2' %}\n"));
  EXPECT_EQ(d.find("highbank"), std::string::npos);
}

TEST(LavaDictionary, TheNodesBoardProfileNamesTheDeviceType) {
  auto inv = lab_inventory();
  Node n = inv.node("02-01");
  n.board.lava_device_type = "calxeda-midway";
  const std::string d = render_lava_dictionary(n, worker());
  EXPECT_THAT(d, HasSubstr("{% extends 'calxeda-midway.jinja2' %}\n"));
}

TEST(LavaDictionary, PathsThatCannotBeOneWordAreRefusedNamingTheField) {
  const auto inv = lab_inventory();
  Node n = inv.node("02-01");
  n.board.lava_device_type.clear();
  auto o = worker();
  o.inventory = "/etc/my lab.ini";
  EXPECT_THAT(error_of([&] { render_lava_dictionary(n, o); }),
              HasSubstr("inventory: '/etc/my lab.ini' is not one command-line word"));
  o = worker();
  o.log_dir = "/var/log/x';{% raw %}";
  EXPECT_THAT(error_of([&] { render_lava_dictionary(n, o); }), HasSubstr("log_dir: "));
  o = worker();
  o.device_type = "../highbank";
  EXPECT_THAT(error_of([&] { render_lava_dictionary(n, o); }), HasSubstr("device_type: "));
  // Nothing is written when one node's dictionary cannot be.
  const fs::path out = mktest::scratch_dir("lava-bad");
  o = worker();
  o.mkmaster = "mk master";
  EXPECT_THAT(error_of([&] { write_lab_files(inv, out.string(), "initrd.gz", o); }), HasSubstr("mkmaster: "));
  EXPECT_FALSE(fs::exists(out / "dnsmasq.conf"));
}

TEST(LavaDictionary, JinjaStringRefusesWhatWouldChangeTheRenderedYaml) {
  EXPECT_EQ(jinja_string("mkmaster power on n --inventory /a/b.ini", "f"), "'mkmaster power on n --inventory /a/b.ini'");
  EXPECT_EQ(jinja_string("push {IMAGE} x", "f"), "'push {IMAGE} x'");
  EXPECT_THAT(error_of([] { jinja_string("a\nb", "f"); }), HasSubstr("f: control character 0x0a"));
  EXPECT_THAT(error_of([] { jinja_string("a\rb", "f"); }), HasSubstr("f: control character 0x0d"));
  EXPECT_THAT(error_of([] { jinja_string(std::string("a\0b", 3), "f"); }), HasSubstr("control character 0x00"));
  EXPECT_THAT(error_of([] { jinja_string("it's", "f"); }), HasSubstr("f: character '''"));
  EXPECT_THAT(error_of([] { jinja_string("a\\b", "f"); }), HasSubstr("character '\\'"));
  EXPECT_THAT(error_of([] { jinja_string("a # b", "f"); }), HasSubstr("character '#'"));
  EXPECT_THAT(error_of([] { jinja_string("key: value", "f"); }), HasSubstr("YAML mapping"));
  EXPECT_THAT(error_of([] { jinja_string("*alias", "f"); }), HasSubstr("cannot start with '*'"));
  EXPECT_THAT(error_of([] { jinja_string("", "f"); }), HasSubstr("f: empty"));
}

}  // namespace lab
