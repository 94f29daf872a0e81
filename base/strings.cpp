#include "base/strings.h"

namespace base {

std::string trim(std::string_view s, std::string_view chars) {
  const size_t b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(chars) - b + 1));
}

std::string trim_end(std::string_view s, std::string_view chars) {
  const size_t e = s.find_last_not_of(chars);
  return e == std::string_view::npos ? std::string() : std::string(s.substr(0, e + 1));
}

std::string to_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  for (;;) {
    const size_t j = s.find(sep);
    out.emplace_back(s.substr(0, j));
    if (j == std::string_view::npos) return out;
    s.remove_prefix(j + 1);
  }
}

std::vector<std::string> split_words(std::string_view s, std::string_view seps) {
  std::vector<std::string> out;
  for (size_t b = s.find_first_not_of(seps); b != std::string_view::npos; b = s.find_first_not_of(seps, b)) {
    const size_t e = s.find_first_of(seps, b);
    out.emplace_back(s.substr(b, e == std::string_view::npos ? std::string_view::npos : e - b));
    if (e == std::string_view::npos) break;
    b = e;
  }
  return out;
}

}  // namespace base
