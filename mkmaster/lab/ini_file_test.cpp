#include "mkmaster/lab/ini_file.h"

#include <gtest/gtest.h>

#include "mkmaster/lab/config_error.h"

namespace lab {

TEST(IniFile, ConfigParserRules) {
  const auto f = parse_ini(
      "Client_Type = highbank\n"
      "# comment\n"
      "; other comment\n"
      "connection_command: ipmitool -H x  # not a comment\n"
      "indented = first\n"
      "\n"
      "   after_a_blank = 1\n"
      "[sec]\n"
      "a=1\r\n",
      "t.conf");
  ASSERT_EQ(f.sections.size(), 2u);
  const auto& top = f.sections[0];
  ASSERT_EQ(top.entries.size(), 4u);
  EXPECT_EQ(top.entries[3].key, "after_a_blank");
  EXPECT_EQ(top.entries[0].key, "client_type");
  EXPECT_EQ(top.entries[0].value, "highbank");
  EXPECT_EQ(top.entries[1].value, "ipmitool -H x  # not a comment");
  EXPECT_EQ(top.entries[1].line, 4);
  EXPECT_EQ(top.entries[2].value, "first");
  EXPECT_EQ(f.sections[1].name, "sec");
  EXPECT_EQ(f.sections[1].find("a")->value, "1");
}

TEST(IniFile, ErrorsNameFileAndLine) {
  try {
    parse_ini("a = 1\nA = 2\n", "dup.conf");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "dup.conf:2:a: duplicate key in file");
  }
  EXPECT_THROW(parse_ini("[x]\n[x]\n", "f"), ConfigError);
  EXPECT_THROW(parse_ini("no separator here\n", "f"), ConfigError);
  EXPECT_THROW(parse_ini("[open\n", "f"), ConfigError);
}

TEST(IniFile, MultiLineValuesAndControlCharactersAreRefused) {
  // ConfigParser would join this continuation to tftp_root; a generated
  // dnsmasq.conf then carried it as its own option line.
  try {
    parse_ini("[lab]\ntftp_root = /var/lib/tftpboot\n  dhcp-script=/path/evil.sh\n", "lab.ini");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "lab.ini:3:tftp_root: indented line continues the value of 'tftp_root' (line 2): multi-line "
                           "values are not allowed (they would become extra lines in generated files)");
  }
  try {
    parse_ini("a = x\x1b]0;title\x07\n", "t.conf");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "t.conf:1:a: a control character (0x1b) at offset 1: values must be one line of printable text");
  }
  EXPECT_THROW(parse_ini("a = x\ry\n", "t.conf"), ConfigError);
  EXPECT_THROW(parse_ini("[s\x01]\n", "t.conf"), ConfigError);
  EXPECT_NO_THROW(parse_ini("a = x\r\n", "t.conf"));  // CRLF line ends are fine
}

}  // namespace lab
