#include "protocol/boot_layout.h"

#include <algorithm>

namespace mkproto {

std::pair<uint64_t, uint64_t> BootLayout::outside(uint64_t begin, uint64_t end) const {
  const uint64_t a = std::max(begin, head_end);
  const uint64_t b = std::min(end, tail_begin);
  if (a >= b) return {a, a};
  return {a, b};
}

BootLayout boot_layout(uint64_t device_size, uint32_t sector_size) {
  BootLayout l;
  l.device_size = device_size;
  l.head_end = std::min(device_size, kBootHeadBytes);
  const uint64_t tail = kGptEntriesBytes + sector_size;
  l.tail_begin = device_size > tail ? device_size - tail : 0;
  l.tail_begin = std::max(l.tail_begin, l.head_end);
  return l;
}

}  // namespace mkproto
