#include "testing/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>

namespace mktest {

namespace {
// Whole-file reads with read(2): tests compare images of many MiB, and a
// byte-wise istreambuf_iterator copy made the sanitizer build spend most of
// a fault test's minute here instead of in the code under test.
template <typename Buffer>
Buffer read_whole(const std::string& path) {
  Buffer out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  constexpr size_t kChunk = 1 << 20;
  for (;;) {
    size_t have = out.size();
    out.resize(have + kChunk);
    ssize_t n = ::read(fd, out.data() + have, kChunk);
    if (n <= 0) {
      out.resize(have);
      break;
    }
    out.resize(have + static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}
}  // namespace

Bytes read_file(const std::string& path) { return read_whole<Bytes>(path); }

std::string slurp(const std::string& path) { return read_whole<std::string>(path); }

namespace {
void write_bytes(const std::string& path, const char* data, size_t size) {
  auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data, static_cast<std::streamsize>(size));
  if (!out) throw std::runtime_error("cannot write " + path);
}
}  // namespace

void write_file(const std::string& path, const Bytes& data) {
  write_bytes(path, reinterpret_cast<const char*>(data.data()), data.size());
}

void write_file(const std::string& path, const std::string& text) { write_bytes(path, text.data(), text.size()); }

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

void flip_byte(const std::string& path, uint64_t at) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  uint8_t b = 0;
  bool ok = ::pread(fd, &b, 1, static_cast<off_t>(at)) == 1;
  b ^= 0x20;
  ok = ok && ::pwrite(fd, &b, 1, static_cast<off_t>(at)) == 1;
  ::close(fd);
  if (!ok) throw std::runtime_error("cannot flip byte " + std::to_string(at) + " of " + path);
}

}  // namespace mktest
