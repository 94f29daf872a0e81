#include "base/json.h"

#include <gtest/gtest.h>

namespace base {
namespace {

TEST(JsonEscape, QuotesAndBackslashes) {
  EXPECT_EQ(json_escape(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
}

TEST(JsonEscape, ControlCharactersAsUnicodeEscapes) {
  EXPECT_EQ(json_escape("a\nb\tc\r"), "a\\u000ab\\u0009c\\u000d");
  EXPECT_EQ(json_escape(std::string("\0\x1f", 2)), "\\u0000\\u001f");
}

TEST(JsonEscape, OtherBytesPassThrough) {
  EXPECT_EQ(json_escape(""), "");
  EXPECT_EQ(json_escape("plain /path: 1.5 s"), "plain /path: 1.5 s");
  EXPECT_EQ(json_escape("gr\xc3\xbc\xc3\x9f \x7f"), "gr\xc3\xbc\xc3\x9f \x7f");
}

}  // namespace
}  // namespace base
