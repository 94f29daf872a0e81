#include "protocol/block_digest.h"

#include "protocol/messages.h"

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>

namespace mkproto {

BlockDigester::BlockDigester(uint64_t image_size, uint32_t block) : size_(image_size), block_(block) {
  if (block == 0) throw std::invalid_argument("BlockDigester: block size 0");
}

void BlockDigester::data(uint64_t offset, std::span<const uint8_t> bytes) {
  advance(offset, bytes.size(), bytes.data(), true);
}
void BlockDigester::zeros(uint64_t offset, uint64_t length) { advance(offset, length, nullptr, true); }
void BlockDigester::dont_care(uint64_t offset, uint64_t length) { advance(offset, length, nullptr, false); }

void BlockDigester::advance(uint64_t offset, uint64_t length, const uint8_t* bytes, bool hashed) {
  if (offset != pos_)
    throw std::logic_error(fmt::format("BlockDigester: range at {} but position is {}", offset, pos_));
  if (offset + length > size_)
    throw std::logic_error(fmt::format("BlockDigester: range {}+{} past image size {}", offset, length, size_));
  static const uint8_t kZeros[64 << 10] = {};
  while (length > 0) {
    uint64_t in_block = block_ - pos_ % block_;
    uint64_t n = std::min(length, in_block);
    if (hashed) {
      if (bytes) {
        cur_.update(bytes, n);
        bytes += n;
      } else {
        for (uint64_t left = n; left > 0;) {
          uint64_t z = std::min<uint64_t>(left, sizeof kZeros);
          cur_.update(kZeros, z);
          left -= z;
        }
      }
    }
    pos_ += n;
    length -= n;
    if (pos_ % block_ == 0 || pos_ == size_) {
      digests_.push_back(cur_.digest());
      cur_.reset();
    }
  }
}

void BlockDigester::end_at(uint64_t image_size) {
  if (image_size != pos_)
    throw std::logic_error(fmt::format("BlockDigester: image ends at {} but position is {}", image_size, pos_));
  if (size_ == image_size) return;
  if (size_ != kImageSizeUnknown)
    throw std::logic_error(fmt::format("BlockDigester: image ends at {}, {} was announced", image_size, size_));
  size_ = image_size;
  if (pos_ % block_ != 0) {
    digests_.push_back(cur_.digest());
    cur_.reset();
  }
}

void BlockDigester::rewind(uint64_t off) {
  if (off % block_ != 0 && off != size_) throw std::logic_error("BlockDigester: rewind to an unaligned offset");
  if (off > pos_) throw std::logic_error("BlockDigester: rewind forward");
  digests_.resize(static_cast<size_t>((off + block_ - 1) / block_));
  pos_ = off;
  cur_.reset();
}

Digest128 BlockDigester::overall() const {
  Hash128 h;
  for (auto& d : digests_) h.update(d.data(), d.size());
  return h.digest();
}

}  // namespace mkproto
