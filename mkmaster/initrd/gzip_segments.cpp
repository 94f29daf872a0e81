#include "mkmaster/initrd/gzip_segments.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>
#include <xxhash.h>
#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "base/read_file.h"

namespace initrd {

namespace {

// Files smaller than this stay in the glue between cached segments: each
// segment costs a few bytes of flush marker and loses the shared window.
constexpr size_t kMinCached = 16 * 1024;

struct Segment {
  ByteRange range;
  bool cacheable = false;
  std::string key;  // cache file name
  std::string deflated;
  bool done = false;
};

std::string deflate_raw(std::string_view in, int level) {
  z_stream z{};
  if (deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("gzip: deflateInit2 failed");
  std::string out(deflateBound(&z, in.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  // A sync flush ends on a byte boundary with no final block: segments concatenate.
  int rc = deflate(&z, Z_SYNC_FLUSH);
  size_t n = out.size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_OK || z.avail_in != 0) throw std::runtime_error(fmt::format("gzip: deflate failed ({})", rc));
  out.resize(n);
  return out;
}

bool read_cache(const std::string& path, std::string& out) {
  auto bytes = base::read_file(path);
  if (!bytes) return false;
  out = std::move(*bytes);
  return !out.empty();
}

void write_cache(const std::string& dir, const std::string& key, const std::string& data) {
  std::string tmp = fmt::format("{}/.{}.{}", dir, key, ::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) {
      ::unlink(tmp.c_str());
      return;
    }
  }
  if (::rename(tmp.c_str(), (dir + "/" + key).c_str()) != 0) ::unlink(tmp.c_str());
}

void put_le32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

std::string gzip_segmented(std::string_view data, const std::vector<ByteRange>& cacheable, const std::string& cache_dir,
                           int level, GzipStats* stats) {
  // Split into glue and cacheable segments.
  std::vector<Segment> segs;
  size_t pos = 0;
  for (const auto& r : cacheable) {
    if (r.end - r.begin < kMinCached || r.begin < pos || r.end > data.size()) continue;
    if (r.begin > pos) segs.push_back({{pos, r.begin}, false, {}, {}, false});
    segs.push_back({r, true, {}, {}, false});
    pos = r.end;
  }
  if (pos < data.size() || segs.empty()) segs.push_back({{pos, data.size()}, false, {}, {}, false});

  bool use_cache = !cache_dir.empty();
  if (use_cache) {
    std::error_code ec;
    std::filesystem::create_directories(cache_dir, ec);
    use_cache = !ec;
  }
  GzipStats st;
  st.segments = segs.size();
  for (auto& s : segs) {
    if (!s.cacheable || !use_cache) continue;
    std::string_view bytes = data.substr(s.range.begin, s.range.end - s.range.begin);
    XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
    s.key = fmt::format("{:016x}{:016x}-{}-z{}-l{}", h.high64, h.low64, bytes.size(), ZLIB_VERSION, level);
    if (read_cache(cache_dir + "/" + s.key, s.deflated)) {
      s.done = true;
      ++st.cached;
    }
  }

  // Deflate the rest on every core; the result does not depend on who did what.
  std::vector<Segment*> todo;
  for (auto& s : segs)
    if (!s.done) todo.push_back(&s);
  st.compressed = todo.size();
  unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 8));
  threads = std::min<unsigned>(threads, static_cast<unsigned>(std::max<size_t>(todo.size(), 1)));
  std::vector<std::exception_ptr> errors(threads);
  auto work = [&](unsigned t) {
    try {
      for (size_t i = t; i < todo.size(); i += threads) {
        Segment& s = *todo[i];
        s.deflated = deflate_raw(data.substr(s.range.begin, s.range.end - s.range.begin), level);
      }
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  if (use_cache)
    for (auto* s : todo)
      if (s->cacheable) write_cache(cache_dir, s->key, s->deflated);

  // One gzip member: header (no name, mtime 0, OS unix), the segments, a
  // final empty fixed block, CRC32 and size.
  size_t total = 18 + 2;
  for (const auto& s : segs) total += s.deflated.size();
  std::string out;
  out.reserve(total);
  out.append("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10);
  for (const auto& s : segs) out += s.deflated;
  out.append("\x03\x00", 2);
  uLong crc = crc32(0L, Z_NULL, 0);
  for (size_t off = 0; off < data.size();) {
    uInt n = static_cast<uInt>(std::min<size_t>(data.size() - off, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data() + off), n);
    off += n;
  }
  put_le32(out, static_cast<uint32_t>(crc));
  put_le32(out, static_cast<uint32_t>(data.size() & 0xffffffffu));
  if (stats) *stats = st;
  return out;
}

}  // namespace initrd
