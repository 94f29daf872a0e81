#include "base/strings.h"

#include <gtest/gtest.h>

namespace base {
namespace {

using V = std::vector<std::string>;

TEST(Trim, BothEnds) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim("\v\fx"), "x");
  EXPECT_EQ(trim("x"), "x");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t\r\n "), "");
}

TEST(Trim, OnlyTheGivenCharacters) {
  EXPECT_EQ(trim("\n x \n", "\n"), " x ");
  EXPECT_EQ(trim("--x--", "-"), "x");
}

TEST(Trim, End) {
  EXPECT_EQ(trim_end("  on\r\n"), "  on");
  EXPECT_EQ(trim_end("\n\n"), "");
  EXPECT_EQ(trim_end(""), "");
  EXPECT_EQ(trim_end("a \n", "\n"), "a ");
}

TEST(ToLower, AsciiOnly) {
  EXPECT_EQ(to_lower("Content-Length: ABCdef09"), "content-length: abcdef09");
  EXPECT_EQ(to_lower("\xc3\x9c"), "\xc3\x9c");
}

TEST(Split, KeepsEmptyFields) {
  EXPECT_EQ(split("a:b", ':'), (V{"a", "b"}));
  EXPECT_EQ(split("a::b:", ':'), (V{"a", "", "b", ""}));
  EXPECT_EQ(split(":a", ':'), (V{"", "a"}));
  EXPECT_EQ(split("", ':'), (V{""}));
  EXPECT_EQ(split("abc", ':'), (V{"abc"}));
}

TEST(SplitWords, RunsOfSeparators) {
  EXPECT_EQ(split_words("  copy  /a\t/b  "), (V{"copy", "/a", "/b"}));
  EXPECT_EQ(split_words("one"), (V{"one"}));
  EXPECT_EQ(split_words(""), V{});
  EXPECT_EQ(split_words(" \t "), V{});
  EXPECT_EQ(split_words("a,b,,c", ","), (V{"a", "b", "c"}));
}

}  // namespace
}  // namespace base
