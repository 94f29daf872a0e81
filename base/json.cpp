#include "base/json.h"

namespace base {

std::string json_escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string o;
  o.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      o.push_back('\\');
      o.push_back(ch);
    } else if (c < 0x20) {
      o += "\\u00";
      o.push_back(kHex[c >> 4]);
      o.push_back(kHex[c & 0xf]);
    } else {
      o.push_back(ch);
    }
  }
  return o;
}

}  // namespace base
