#pragma once
// Little-endian field encoding for frame headers and message payloads.
// Reader bounds-checks every field and throws ProtocolError(kMalformed)
// naming the field, so a short or garbled payload never reads out of bounds.
#include <array>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "protocol/errors.h"

namespace mkproto {

inline void put_le(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint64_t get_le(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}

class Writer {
 public:
  Writer& u8(uint8_t v) { return le(v, 1); }
  Writer& u16(uint16_t v) { return le(v, 2); }
  Writer& u32(uint32_t v) { return le(v, 4); }
  Writer& i32(int32_t v) { return le(static_cast<uint32_t>(v), 4); }
  Writer& u64(uint64_t v) { return le(v, 8); }
  // The low n bytes of v.
  Writer& le(uint64_t v, size_t n) {
    size_t at = out_.size();
    out_.resize(at + n);
    put_le(out_.data() + at, v, n);
    return *this;
  }
  Writer& bytes(std::span<const uint8_t> b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  // u16 length + bytes
  Writer& str(const std::string& s) {
    u16(static_cast<uint16_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
    return *this;
  }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  Reader(std::span<const uint8_t> in, const char* what) : in_(in), what_(what) {}
  uint8_t u8(const char* f) { return static_cast<uint8_t>(le(1, f)); }
  uint16_t u16(const char* f) { return static_cast<uint16_t>(le(2, f)); }
  uint32_t u32(const char* f) { return static_cast<uint32_t>(le(4, f)); }
  int32_t i32(const char* f) { return static_cast<int32_t>(static_cast<uint32_t>(le(4, f))); }
  uint64_t u64(const char* f) { return le(8, f); }
  // An n-byte unsigned integer.
  uint64_t le(size_t n, const char* f) {
    need(n, f);
    uint64_t v = get_le(in_.data() + pos_, n);
    pos_ += n;
    return v;
  }
  template <size_t N>
  std::array<uint8_t, N> fixed(const char* f) {
    need(N, f);
    std::array<uint8_t, N> a;
    std::memcpy(a.data(), in_.data() + pos_, N);
    pos_ += N;
    return a;
  }
  std::string str(const char* f, size_t max_len) {
    size_t n = u16(f);
    if (n > max_len) fail(f, "longer than " + std::to_string(max_len) + " bytes");
    need(n, f);
    std::string s(reinterpret_cast<const char*>(in_.data() + pos_), n);
    pos_ += n;
    return s;
  }
  std::span<const uint8_t> rest() {
    auto r = in_.subspan(pos_);
    pos_ = in_.size();
    return r;
  }
  size_t remaining() const { return in_.size() - pos_; }
  // Trailing bytes are malformed too: a peer must send exactly the layout.
  void end() {
    if (pos_ != in_.size()) fail("end", std::to_string(in_.size() - pos_) + " trailing bytes");
  }
  [[noreturn]] void fail(const char* field, const std::string& why) const {
    throw ProtocolError(ErrorCode::kMalformed, std::string(what_) + " payload: field '" + field + "': " + why);
  }

 private:
  void need(size_t n, const char* f) const {
    if (in_.size() - pos_ < n) fail(f, "truncated");
  }
  std::span<const uint8_t> in_;
  const char* what_;
  size_t pos_ = 0;
};

}  // namespace mkproto
