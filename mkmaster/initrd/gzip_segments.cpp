#include "mkmaster/initrd/gzip_segments.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>
#include <xxhash.h>
#include <libdeflate.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
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

// libdeflate's level for gzip's: libdeflate 5 writes slightly smaller output
// than zlib 6 (12.24 vs 12.38 MB for the Highbank initrd) in less than half
// the CPU time (bench/README.md), so the output is never larger than zlib's.
int libdeflate_level(int gzip_level) { return gzip_level == 6 ? 5 : std::clamp(gzip_level, 1, 12); }

// Where the last block of a complete raw deflate stream starts and where the
// stream ends, in bits from the start of `in`. libdeflate writes whole
// streams only (no sync flush), so the block boundaries are found the way
// zlib's examples/gzjoin.c does: inflate with Z_BLOCK, which stops after
// each end-of-block code and tells the bit position (about a fifth of the
// compression's CPU time, measured).
struct LastBlock {
  uint64_t header_bit = 0, end_bit = 0;
};

LastBlock find_last_block(std::string_view in) {
  z_stream z{};
  if (inflateInit2(&z, -15) != Z_OK) throw std::runtime_error("gzip: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  // Bit offset of the next unread bit: bytes taken minus the unused bits of the last one.
  auto bit_pos = [&] { return uint64_t{in.size() - z.avail_in} * 8 - static_cast<uint64_t>(z.data_type & 7); };
  LastBlock lb;  // the first block header is at bit 0
  unsigned char junk[1 << 15];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = junk;
    z.avail_out = sizeof junk;
    rc = inflate(&z, Z_BLOCK);
    // 128: stopped after an end-of-block code, so the next block's header
    // starts at the next unread bit; 64: that block was the last one, and
    // the stream ends here (the next call skips to the byte boundary).
    if (rc == Z_OK && (z.data_type & 128)) {
      if (z.data_type & 64)
        lb.end_bit = bit_pos();
      else
        lb.header_bit = bit_pos();
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || z.avail_in != 0 || lb.end_bit == 0) throw std::runtime_error(fmt::format("gzip: re-reading a segment failed ({})", rc));
  return lb;
}

// A raw deflate stream that does not end the gzip member: libdeflate's
// output with its last block's BFINAL bit cleared and an empty stored block
// after it (what a zlib sync flush writes), so the stream ends on a byte
// boundary and segments concatenate into one stream.
std::string deflate_raw(libdeflate_compressor* c, std::string_view in) {
  std::string out(libdeflate_deflate_compress_bound(c, in.size()) + 8, '\0');
  size_t n = libdeflate_deflate_compress(c, in.data(), in.size(), out.data(), out.size());
  if (n == 0) throw std::runtime_error("gzip: libdeflate_deflate_compress failed");
  out.resize(n);
  const LastBlock lb = find_last_block(out);
  out[lb.header_bit / 8] = static_cast<char>(out[lb.header_bit / 8] & ~(1u << (lb.header_bit % 8)));
  // Stored block header (3 zero bits) at end_bit, padding to the byte, LEN 0, NLEN 0xffff.
  const uint64_t header_end = lb.end_bit + 3;
  out.resize((header_end + 7) / 8);  // the padding bits are zero
  const unsigned used = static_cast<unsigned>(lb.end_bit % 8);
  if (used != 0) {
    const size_t last = lb.end_bit / 8;
    out[last] = static_cast<char>(out[last] & ((1u << used) - 1));
  }
  for (size_t i = lb.end_bit / 8 + (used != 0); i < out.size(); ++i) out[i] = 0;
  out.append("\x00\x00\xff\xff", 4);
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
    s.key = fmt::format("{:016x}{:016x}-{}-d{}-l{}", h.high64, h.low64, bytes.size(), LIBDEFLATE_VERSION_STRING, level);
    if (read_cache(cache_dir + "/" + s.key, s.deflated)) {
      s.done = true;
      ++st.cached;
    }
  }

  // Deflate the rest on every core; the result does not depend on who did
  // what. Largest first, each thread taking the next one when it is free,
  // so one large segment (the kernel modules, the agent) does not leave a
  // core idle at the end.
  std::vector<Segment*> todo;
  for (auto& s : segs)
    if (!s.done) todo.push_back(&s);
  std::stable_sort(todo.begin(), todo.end(), [](const Segment* a, const Segment* b) {
    return a->range.end - a->range.begin > b->range.end - b->range.begin;
  });
  st.compressed = todo.size();
  unsigned threads = std::max(1u, std::min<unsigned>(std::thread::hardware_concurrency(), 8));
  threads = std::min<unsigned>(threads, static_cast<unsigned>(std::max<size_t>(todo.size(), 1)));
  std::vector<std::exception_ptr> errors(threads);
  std::atomic<size_t> next{0};
  auto work = [&](unsigned t) {
    libdeflate_compressor* c = libdeflate_alloc_compressor(libdeflate_level(level));
    try {
      if (!c) throw std::runtime_error(fmt::format("gzip: libdeflate_alloc_compressor({}) failed", level));
      for (size_t i = next++; i < todo.size(); i = next++) {
        Segment& s = *todo[i];
        s.deflated = deflate_raw(c, data.substr(s.range.begin, s.range.end - s.range.begin));
      }
    } catch (...) {
      errors[t] = std::current_exception();
    }
    if (c) libdeflate_free_compressor(c);
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
  const uint32_t crc = libdeflate_crc32(0, data.data(), data.size());
  put_le32(out, static_cast<uint32_t>(crc));
  put_le32(out, static_cast<uint32_t>(data.size() & 0xffffffffu));
  if (stats) *stats = st;
  return out;
}

}  // namespace initrd
