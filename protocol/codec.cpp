#include "protocol/codec.h"

#include <fmt/core.h>

#include "protocol/messages.h"

namespace mkproto {

void expect_type(const Frame& f, FrameType want) {
  if (f.type == want) return;
  if (f.type == FrameType::kError) throw_remote_error(f);
  throw ProtocolError(ErrorCode::kUnexpected,
                      fmt::format("frame {}: got {} where {} was expected", f.seq, type_name(f.type), type_name(want)));
}

void throw_remote_error(const Frame& f) {
  auto e = decode<ErrorMsg>(f);
  throw ProtocolError(e.code, fmt::format("agent: {}", e.message));
}

namespace codec {

void check(const Reader& r, const char* name, uint64_t v, const PowerOfTwo& rule) {
  if (v < rule.min || v > rule.max || (v & (v - 1)))
    r.fail(name, fmt::format("{} is not a power of two in [{}, {}]", v, rule.min, rule.max));
}

void check(const Reader& r, const char* name, uint64_t v, const AtMost& rule) {
  if (v > rule.max) r.fail(name, fmt::format("{} is above {}", v, rule.max));
}

void check(const Reader& r, const char* name, uint64_t v, const AtLeast& rule) {
  if (v < rule.other_value) r.fail(name, fmt::format("{} is below {} {}", v, rule.other, rule.other_value));
}

void check(const Reader& r, const char* name, uint64_t v, const RangeAt& rule) {
  if (v == 0) r.fail(name, "zero-length range");
  if (rule.offset + v < rule.offset) r.fail(name, "offset + length overflows");
}

void check(const Reader& r, const char* name, uint64_t v, const WireEnum& e) {
  if (v < e.min || v > e.max) r.fail(name, fmt::format("unknown {} {}", e.noun, v));
}

void check(const Reader& r, const char* name, const std::string& s, const Str& rule) {
  if (rule.non_empty && s.empty()) r.fail(name, "empty");
  if (rule.no_nul && s.find('\0') != std::string::npos) r.fail(name, "contains a NUL byte");
}

void check_count(const Reader& r, const char* name, uint64_t n, const char* item, size_t min, size_t max) {
  if (n < min || n > max) r.fail(name, fmt::format("{} {} entries ({}..{} allowed)", n, item, min, max));
}

void check_fits(const char* name, size_t n, uint64_t limit) {
  if (n > limit)
    throw ProtocolError(ErrorCode::kBadRequest, fmt::format("field '{}': {} does not fit in its length field", name, n));
}

}  // namespace codec
}  // namespace mkproto
