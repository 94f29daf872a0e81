#pragma once
// The body of a JSON string literal (RFC 8259): the one escaping used by
// every --json output, so a message with quotes or control characters never
// breaks a consumer's parser.
#include <string>
#include <string_view>

namespace base {

// `"`, `\` and the control characters U+0000..U+001F escaped (the latter as
// \u00XX); every other byte, UTF-8 included, passes through.
std::string json_escape(std::string_view s);

}  // namespace base
