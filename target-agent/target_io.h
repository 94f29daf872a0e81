#pragma once
// Reading the target: page-aligned buffers (O_DIRECT), exact reads, and
// where a sparse file target keeps its data (holes need not be read).
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace agent {

struct AlignedBuffer {
  explicit AlignedBuffer(size_t n, size_t align = 4096);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  uint8_t* data() { return static_cast<uint8_t*>(p); }
  void* p = nullptr;
  size_t size;
};

// Reads n bytes at off; short only at the end of the file/device. Throws
// ProtocolError(kIo) naming path and offset.
size_t read_at(int fd, uint8_t* buf, size_t n, uint64_t off, const std::string& path);

// The ranges of [begin, end) that may hold data (SEEK_DATA/SEEK_HOLE); the
// whole range when the target cannot tell (block devices, old file systems).
std::vector<std::pair<uint64_t, uint64_t>> data_ranges(int fd, uint64_t begin, uint64_t end);

}  // namespace agent
