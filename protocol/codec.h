#pragma once
// One generic encoder and decoder for every message struct.
//
// A message struct declares its frame type and lists its fields once, in
// wire order:
//
//   struct Open {
//     static constexpr FrameType kType = FrameType::kOpen;
//     SessionId session{};
//     std::string path;
//     static void fields(auto& m, auto& c) {
//       c(m.session, "session");
//       c(m.path, "path", Str{kMaxPath});
//     }
//   };
//
// fields() is called with the encoder or the decoder as `c`. The C++ type of
// a member fixes its wire form (unsigned and i32 integers little-endian, bool
// as u8 0/1, enums as their underlying type, byte arrays raw, nested structs
// by their own fields()); the optional rule after the name bounds or places
// it. The decoder throws ProtocolError(kMalformed) naming the field; the
// encoder writes what it is given (a peer's decoder is the judge, and tests
// build bad frames with it).
#include <array>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "protocol/frame.h"
#include "protocol/wire.h"

namespace mkproto {

// Rules: the optional third argument of a field, bounding its value or
// saying where it lives. Checks are the decoder's; the encoder ignores them.

struct NoRule {};
// A string: u16 byte length, then the bytes.
struct Str {
  size_t max;
  bool non_empty = false;
  bool no_nul = false;
  bool truncate = false;  // encode cuts at max (free text, e.g. error messages)
};
// A Count-typed item count in [min, max], then the items, each read with
// item_rule and named `item` in errors.
template <std::unsigned_integral Count, class ItemRule = NoRule>
struct List {
  const char* item;
  size_t min = 0, max = 0;
  ItemRule item_rule{};
};
struct PowerOfTwo {
  uint64_t min, max;
};
struct AtMost {
  uint64_t max;
};
// Not below another field, named `other` (already read).
struct AtLeast {
  uint64_t other_value;
  const char* other;
};
// The length of [offset, offset + length): not empty, no overflow.
struct RangeAt {
  uint64_t offset;
};
// Not in the payload: the frame header's offset field.
struct FrameOffset {};
// The payload may end before this last field; the member keeps its default.
struct Trailing {};

// What a wire enum accepts. Each enum declares it next to its definition, as
// `constexpr WireEnum wire_enum(E)` (found by argument-dependent lookup).
struct WireEnum {
  uint64_t min, max;
  const char* noun;  // for "unknown <noun> 7"
};

template <class M>
concept Message = requires {
  { M::kType } -> std::convertible_to<FrameType>;
};

// Throws ProtocolError(kUnexpected) when f.type is not `want`, or the peer's
// error as an exception when f is an ERROR frame.
void expect_type(const Frame& f, FrameType want);
// An ERROR frame from the peer, as the exception the receiving side throws.
[[noreturn]] void throw_remote_error(const Frame& f);

namespace codec {

template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class T>
struct IsByteArray : std::false_type {};
template <size_t N>
struct IsByteArray<std::array<uint8_t, N>> : std::true_type {};

// Rule checks, out of line: they only format failures.
void check(const Reader& r, const char* name, uint64_t v, const PowerOfTwo& rule);
void check(const Reader& r, const char* name, uint64_t v, const AtMost& rule);
void check(const Reader& r, const char* name, uint64_t v, const AtLeast& rule);
void check(const Reader& r, const char* name, uint64_t v, const RangeAt& rule);
void check(const Reader& r, const char* name, uint64_t v, const WireEnum& e);
void check(const Reader& r, const char* name, const std::string& s, const Str& rule);
void check_count(const Reader& r, const char* name, uint64_t n, const char* item, size_t min, size_t max);
// Refuses a length that does not fit its count field (the bytes would lie).
void check_fits(const char* name, size_t n, uint64_t limit);

class Encoder {
 public:
  explicit Encoder(Frame& f) : f_(f) {}

  template <class T, class Rule = NoRule>
  void operator()(const T& v, const char* name, const Rule& rule = {}) {
    if constexpr (std::is_same_v<Rule, FrameOffset>) {
      f_.offset = v;
    } else if constexpr (std::is_same_v<T, std::string>) {
      static_assert(std::is_same_v<Rule, Str>, "a string needs a Str rule (its maximum length)");
      size_t n = rule.truncate && v.size() > rule.max ? rule.max : v.size();
      check_fits(name, n, UINT16_MAX);
      w_.u16(static_cast<uint16_t>(n)).bytes({reinterpret_cast<const uint8_t*>(v.data()), n});
    } else if constexpr (IsVector<T>::value) {
      put_list(v, name, rule);
    } else if constexpr (requires(T& m, Encoder& c) { T::fields(m, c); }) {
      T::fields(v, *this);
    } else {
      put(v);
    }
  }

  std::vector<uint8_t> take() { return w_.take(); }

 private:
  template <class T, class Count, class ItemRule>
  void put_list(const std::vector<T>& v, const char* name, const List<Count, ItemRule>& rule) {
    check_fits(name, v.size(), std::numeric_limits<Count>::max());
    put(static_cast<Count>(v.size()));
    for (const T& item : v) (*this)(item, rule.item, rule.item_rule);
  }
  template <class T>
  void put(const T& v) {
    if constexpr (std::is_enum_v<T>) put(static_cast<std::underlying_type_t<T>>(v));
    else if constexpr (std::is_same_v<T, bool>) w_.u8(v ? 1 : 0);
    else if constexpr (IsByteArray<T>::value) w_.bytes(v);
    else if constexpr (std::is_same_v<T, int32_t>) w_.i32(v);
    else {
      static_assert(std::unsigned_integral<T>, "no wire form for this member type");
      w_.le(v, sizeof(T));
    }
  }
  Frame& f_;
  Writer w_;
};

class Decoder {
 public:
  explicit Decoder(const Frame& f) : f_(f), r_(f.payload, type_name(f.type)) {}

  template <class T, class Rule = NoRule>
  void operator()(T& v, const char* name, const Rule& rule = {}) {
    if constexpr (std::is_same_v<Rule, FrameOffset>) {
      v = f_.offset;
    } else if constexpr (std::is_same_v<Rule, Trailing>) {
      if (r_.remaining() > 0) (*this)(v, name);
    } else if constexpr (std::is_same_v<T, std::string>) {
      static_assert(std::is_same_v<Rule, Str>, "a string needs a Str rule (its maximum length)");
      v = r_.str(name, rule.max);
      check(r_, name, v, rule);
    } else if constexpr (IsVector<T>::value) {
      get_list(v, name, rule);
    } else if constexpr (requires(T& m, Decoder& c) { T::fields(m, c); }) {
      T::fields(v, *this);
    } else {
      get(v, name);
      if constexpr (!std::is_same_v<Rule, NoRule>) check(r_, name, v, rule);
    }
  }

  void end() { r_.end(); }

 private:
  template <class T, class Count, class ItemRule>
  void get_list(std::vector<T>& v, const char* name, const List<Count, ItemRule>& rule) {
    Count n;
    get(n, name);
    check_count(r_, name, n, rule.item, rule.min, rule.max);
    v.clear();
    v.reserve(n);  // n is at most rule.max
    for (Count i = 0; i < n; ++i) (*this)(v.emplace_back(), rule.item, rule.item_rule);
  }
  template <class T>
  void get(T& v, const char* name) {
    if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> raw;
      get(raw, name);
      check(r_, name, raw, wire_enum(T{}));
      v = static_cast<T>(raw);
    } else if constexpr (std::is_same_v<T, bool>) {
      uint8_t raw = r_.u8(name);
      if (raw > 1) r_.fail(name, "boolean is " + std::to_string(raw));
      v = raw == 1;
    } else if constexpr (IsByteArray<T>::value) {
      v = r_.fixed<std::tuple_size_v<T>>(name);
    } else if constexpr (std::is_same_v<T, int32_t>) {
      v = r_.i32(name);
    } else {
      static_assert(std::unsigned_integral<T>, "no wire form for this member type");
      v = static_cast<T>(r_.le(sizeof(T), name));
    }
  }
  const Frame& f_;
  Reader r_;
};

}  // namespace codec

// The frame of message m.
template <Message M>
Frame encode(const M& m) {
  Frame f;
  f.type = M::kType;
  codec::Encoder e(f);
  M::fields(m, e);
  f.payload = e.take();
  return f;
}

// The message in f: its type must be M's (an ERROR frame is thrown as the
// peer's error), every field in range, no byte missing or left over.
template <Message M>
M decode(const Frame& f) {
  expect_type(f, M::kType);
  M m;
  codec::Decoder d(f);
  M::fields(m, d);
  d.end();
  return m;
}

}  // namespace mkproto
