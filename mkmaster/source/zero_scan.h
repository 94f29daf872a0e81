#pragma once
// Zero detection for sparse pushes: all-zero blocks are not sent.
#include <cstddef>
#include <cstdint>

namespace source {

// True when all n bytes are zero. Compares 64-bit words (OR-reduced per
// 64-byte line, which the compiler vectorises) and stops at the first line
// with a set bit: data blocks are usually rejected in the first line.
bool is_zero(const uint8_t* p, size_t n);

}  // namespace source
