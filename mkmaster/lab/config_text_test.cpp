#include "mkmaster/lab/config_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/device_config.h"

namespace lab {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigText, OneLineOfPrintableTextOnly) {
  EXPECT_NO_THROW(check_one_line("ipmitool -H 10.0.0.1 sol activate", "f:1:k"));
  EXPECT_NO_THROW(check_one_line("caf\xc3\xa9", "f:1:k"));  // UTF-8 is text
  EXPECT_EQ(error_of([] { check_one_line("/srv\ndhcp-script=/x", "lab.ini:3:tftp_root"); }),
            "lab.ini:3:tftp_root: a line break (0x0a) at offset 4: values must be one line of printable text");
  EXPECT_THAT(error_of([] { check_one_line("a\rb", "w"); }), HasSubstr("a line break (0x0d) at offset 1"));
  EXPECT_THAT(error_of([] { check_one_line("a\tb", "w"); }), HasSubstr("a tab (0x09)"));
  EXPECT_THAT(error_of([] { check_one_line(std::string("a\0b", 3), "w"); }), HasSubstr("control character (0x00)"));
  EXPECT_THAT(error_of([] { check_one_line("a\x7f", "w"); }), HasSubstr("control character (0x7f)"));
}

TEST(ConfigText, DnsmasqFieldsCannotAddFieldsOrComments) {
  EXPECT_EQ(dnsmasq_field("/var/lib/tftpboot", "w"), "/var/lib/tftpboot");
  EXPECT_THAT(error_of([] { dnsmasq_field("/srv,eth0", "lab.ini:3:tftp_root"); }),
              HasSubstr("lab.ini:3:tftp_root: ',' at offset 4 has a meaning in dnsmasq.conf (it starts another field)"));
  EXPECT_THAT(error_of([] { dnsmasq_field("/srv #x", "w"); }), HasSubstr("whitespace"));
  EXPECT_THAT(error_of([] { dnsmasq_field("/srv#x", "w"); }), HasSubstr("comment"));
  EXPECT_THAT(error_of([] { dnsmasq_field("\"/srv\"", "w"); }), HasSubstr("quotes"));
  EXPECT_THAT(error_of([] { dnsmasq_field("/srv\nenable-ra", "w"); }), HasSubstr("line break"));
  EXPECT_THAT(error_of([] { dnsmasq_field("", "w"); }), HasSubstr("empty"));
}

TEST(ConfigText, IniValuesRoundTripThroughInterpolation) {
  for (const std::string v : {"plain", "100%", "%(ecmeip)s literal", "%%", "a = b: c # d ; e", "[x]"}) {
    DeviceConfig cfg;
    cfg.load_text("k = " + ini_value(v, "w") + "\n", "t.conf");
    EXPECT_EQ(cfg.get("k"), v);
  }
  EXPECT_THAT(error_of([] { ini_value(" lead", "w"); }), HasSubstr("leading or trailing spaces"));
  EXPECT_THAT(error_of([] { ini_value("a\n b", "w"); }), HasSubstr("line break"));
}

TEST(ConfigText, JinjaLiteralsAreQuoted) {
  EXPECT_EQ(jinja_string("ipmitool -H x", "w"), "'ipmitool -H x'");
  EXPECT_EQ(jinja_string("push {IMAGE} {{ x }}", "w"), "'push {IMAGE} {{ x }}'");
  EXPECT_THAT(error_of([] { jinja_string("it's", "w"); }), HasSubstr("w: character '''"));
  EXPECT_THAT(error_of([] { jinja_string("a\n{% set x = 1 %}", "w"); }), HasSubstr("control character 0x0a"));
}

TEST(ConfigText, GeneratedFilesAreLinesOfText) {
  EXPECT_NO_THROW(check_generated("a=b\n# c\n\n", "f"));
  EXPECT_NO_THROW(check_generated("", "f"));
  EXPECT_EQ(error_of([] { check_generated("a\nb\x1b[0m\n", "dnsmasq.conf"); }),
            "dnsmasq.conf:2: a control character (0x1b) at column 2 in generated text");
  EXPECT_THAT(error_of([] { check_generated("a\r\n", "f"); }), HasSubstr("f:1: a line break (0x0d)"));
  EXPECT_THAT(error_of([] { check_generated("a", "f"); }), HasSubstr("does not end with a line break"));
}

TEST(ConfigText, DeviceConfigValuesFromAnyLayerAreOneLine) {
  DeviceConfig cfg;
  EXPECT_EQ(error_of([&] { cfg.set("ecmeip", "10.0.0.1\nconnection_command = sh", "lab.ini:9 (calxeda02-01)"); }),
            "lab.ini:9 (calxeda02-01):ecmeip: a line break (0x0a) at offset 8: values must be one line of printable "
            "text");
}

}  // namespace
}  // namespace lab
