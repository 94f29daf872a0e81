#include "mkmaster/source/zero_scan.h"

#include <cstring>

namespace source {

bool is_zero(const uint8_t* p, size_t n) {
  // Unaligned head, byte by byte, until p is 8-byte aligned.
  while (n && (reinterpret_cast<uintptr_t>(p) & 7)) {
    if (*p) return false;
    ++p;
    --n;
  }
  while (n >= 64) {
    uint64_t w[8];
    std::memcpy(w, p, 64);
    if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0) return false;
    p += 64;
    n -= 64;
  }
  while (n >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    if (w) return false;
    p += 8;
    n -= 8;
  }
  while (n) {
    if (*p) return false;
    ++p;
    --n;
  }
  return true;
}

}  // namespace source
