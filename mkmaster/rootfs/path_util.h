#pragma once
// Lexical helpers for absolute paths inside a root. They never touch the
// host filesystem: symlinks are the business of resolve().
#include <string>
#include <string_view>
#include <vector>

namespace rootfs::path {

// Components of a path, without empty ones and ".", keeping "..".
std::vector<std::string> split(std::string_view p);
// "/a//b/./c/" -> "/a/b/c"; ".." is applied lexically and never climbs
// above "/". Throws RootfsError for a relative or empty path.
std::string normalize(std::string_view p);
// "usr/bin/x" or "./usr/bin/x" -> "/usr/bin/x" (normalised).
std::string rooted(std::string_view p);
// join("/a", "b") -> "/a/b"; join("/", "b") -> "/b".
std::string join(std::string_view dir, std::string_view name);
// parent("/a/b") -> "/a"; parent("/a") -> "/"; parent("/") -> "/".
std::string parent(std::string_view p);
// basename("/a/b") -> "b".
std::string basename(std::string_view p);

}  // namespace rootfs::path
