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
      "multi = first\n"
      "   second\n"
      "[sec]\n"
      "a=1\r\n",
      "t.conf");
  ASSERT_EQ(f.sections.size(), 2u);
  const auto& top = f.sections[0];
  ASSERT_EQ(top.entries.size(), 3u);
  EXPECT_EQ(top.entries[0].key, "client_type");
  EXPECT_EQ(top.entries[0].value, "highbank");
  EXPECT_EQ(top.entries[1].value, "ipmitool -H x  # not a comment");
  EXPECT_EQ(top.entries[1].line, 4);
  EXPECT_EQ(top.entries[2].value, "first\nsecond");
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

}  // namespace lab
