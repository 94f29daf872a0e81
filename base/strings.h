#pragma once
// Trimming and splitting for the line-oriented text mkmaster reads (INI
// files, manifests, hooks, HTTP headers, bmap XML, PATH).
#include <string>
#include <string_view>
#include <vector>

namespace base {

// What isspace() accepts in the C locale.
inline constexpr std::string_view kWhitespace = " \t\n\v\f\r";

// s without the leading and trailing characters found in `chars`.
std::string trim(std::string_view s, std::string_view chars = kWhitespace);
// s without the trailing ones only.
std::string trim_end(std::string_view s, std::string_view chars = kWhitespace);

// ASCII letters lowered, every other byte kept (what tolower does in the C
// locale): for case-insensitive keys, header names and hex digests.
std::string to_lower(std::string s);

// Every field between separators, empty ones included: "a::b" gives
// {"a", "", "b"} and "" gives {""}, as PATH-like lists need.
std::vector<std::string> split(std::string_view s, char sep);
// The words between runs of separators; never an empty word.
std::vector<std::string> split_words(std::string_view s, std::string_view seps = " \t");

}  // namespace base
