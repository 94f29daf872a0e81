#include "target-agent/target_io.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "protocol/errors.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

AlignedBuffer::AlignedBuffer(size_t n, size_t align) : size(n) {
  if (posix_memalign(&p, align, n) != 0) throw std::bad_alloc();
}
AlignedBuffer::~AlignedBuffer() { std::free(p); }

size_t read_at(int fd, uint8_t* buf, size_t n, uint64_t off, const std::string& path) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("read {} at {}: {}", path, off + done, std::strerror(errno)));
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

std::vector<std::pair<uint64_t, uint64_t>> data_ranges(int fd, uint64_t begin, uint64_t end) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return {{begin, end}};
  for (uint64_t pos = begin; pos < end;) {
    off_t d = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) break;  // only a hole up to the end of the file
      return {{begin, end}};
    }
    if (static_cast<uint64_t>(d) >= end) break;
    off_t h = ::lseek(fd, d, SEEK_HOLE);
    if (h < 0) return {{begin, end}};
    uint64_t e = std::min<uint64_t>(static_cast<uint64_t>(h), end);
    out.emplace_back(static_cast<uint64_t>(d), e);
    pos = e;
  }
  return out;
}

}  // namespace agent
