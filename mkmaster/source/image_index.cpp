#include "mkmaster/source/image_index.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sodium.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "base/unique_fd.h"
#include "mkmaster/source/image_reader.h"
#include "protocol/wire.h"

namespace source {

namespace {

constexpr char kMagic[8] = {'M', 'K', 'M', 'I', 'D', 'X', '\r', '\n'};
constexpr uint16_t kAlgoBlake2b128 = 1;
constexpr size_t kHeader = 40;  // magic, version, algorithm, block, image_size, blocks, data_blocks
constexpr size_t kDigest = 32;
constexpr uint32_t kMinIndexBlock = 4096, kMaxIndexBlock = 16u << 20;  // the agent's HASH_REQUEST limits
using Digest = std::array<uint8_t, kDigest>;

void put(std::vector<uint8_t>& out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// BLAKE2b-256 over the header and the body: binds the hashes to the image's
// size and block size, and catches a truncated or edited file.
Digest digest_of(const uint8_t* header, const uint8_t* body, size_t body_len) {
  Digest d{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, d.size());
  crypto_generichash_update(&st, header, kHeader);
  crypto_generichash_update(&st, body, body_len);
  crypto_generichash_final(&st, d.data(), d.size());
  return d;
}

bool all_zero(const uint8_t* p, size_t n) { return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0); }

void fill_hash_at(ImageIndex& ix) {
  ix.hash_at.assign(static_cast<size_t>(ix.blocks()), UINT32_MAX);
  uint32_t k = 0;
  for (uint64_t b = 0; b < ix.blocks(); ++b)
    if (ix.has_data(b)) ix.hash_at[static_cast<size_t>(b)] = k++;
}

bool valid_block(uint32_t b) { return b >= kMinIndexBlock && b <= kMaxIndexBlock && (b & (b - 1)) == 0; }

}  // namespace

ImageIndex index_image(const std::string& path, uint32_t block,
                       const std::function<void(uint64_t, uint64_t)>& on_progress) {
  if (!valid_block(block))
    throw SourceError(
        fmt::format("index block size {}: not a power of two in [{}, {}]", block, kMinIndexBlock, kMaxIndexBlock));
  base::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw SourceError(fmt::format("{}: {}", path, std::strerror(errno)));
  const off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end < 0) throw SourceError(fmt::format("{}: not seekable: {}", path, std::strerror(errno)));
  ImageIndex ix;
  ix.block = block;
  ix.image_size = static_cast<uint64_t>(end);
  ix.data_map.assign(static_cast<size_t>((ix.blocks() + 7) / 8), 0);
  const size_t chunk = std::max<size_t>(block, (4u << 20) / block * block);
  std::vector<uint8_t> buf(chunk);
  uint64_t pos = 0, last_report = 0;
  while (pos < ix.image_size) {
    // Holes of a sparse file are zero blocks without being read.
    off_t data = ::lseek(fd.get(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0) data = end;  // ENXIO: only a hole is left
    const uint64_t next = std::min<uint64_t>(static_cast<uint64_t>(data) / block * block, ix.image_size);
    if (next > pos) {
      pos = next;
      continue;
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, ix.image_size - pos));
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd.get(), buf.data() + got, n - got, static_cast<off_t>(pos + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0)
        throw SourceError(
            fmt::format("{}: read at {}: {}", path, pos + got, r < 0 ? std::strerror(errno) : "the file shrank"));
      got += static_cast<size_t>(r);
    }
    for (size_t off = 0; off < n; off += block) {
      const size_t len = std::min<size_t>(block, n - off);
      if (all_zero(buf.data() + off, len)) continue;
      const uint64_t b = (pos + off) / block;
      ix.data_map[static_cast<size_t>(b / 8)] |= static_cast<uint8_t>(1u << (b % 8));
      ix.hashes.push_back(mkproto::strong_hash(buf.data() + off, len));
    }
    pos += n;
    if (on_progress && pos - last_report >= (64u << 20)) on_progress(last_report = pos, ix.image_size);
  }
  if (on_progress) on_progress(ix.image_size, ix.image_size);
  fill_hash_at(ix);
  return ix;
}

std::vector<uint8_t> encode_index(const ImageIndex& ix) {
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  put(out, kIndexVersion, 2);
  put(out, kAlgoBlake2b128, 2);
  put(out, ix.block, 4);
  put(out, ix.image_size, 8);
  put(out, ix.blocks(), 8);
  put(out, ix.hashes.size(), 8);
  std::vector<uint8_t> body = ix.data_map;
  for (const auto& h : ix.hashes) body.insert(body.end(), h.begin(), h.end());
  const Digest d = digest_of(out.data(), body.data(), body.size());
  out.insert(out.end(), d.begin(), d.end());
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

ImageIndex decode_index(const std::vector<uint8_t>& bytes, const std::string& name) {
  auto fail = [&](uint64_t at, const char* field, const std::string& why) {
    return SourceError(fmt::format("{}: image index field {} (byte {}): {}", name, field, at, why));
  };
  auto le = [&](size_t at, size_t n) { return mkproto::get_le(bytes.data() + at, n); };
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw fail(0, "magic", "not an mkmaster image index (written by `mkmaster index IMAGE`)");
  if (bytes.size() < kHeader + kDigest)
    throw fail(bytes.size(), "header",
               fmt::format("truncated: {} bytes, the header and digest alone are {}", bytes.size(), kHeader + kDigest));
  if (auto v = le(8, 2); v != kIndexVersion)
    throw fail(8, "version", fmt::format("version {}, this mkmaster reads version {}", v, kIndexVersion));
  if (auto a = le(10, 2); a != kAlgoBlake2b128)
    throw fail(10, "algorithm", fmt::format("unknown hash algorithm {} (1 = BLAKE2b-128)", a));
  ImageIndex ix;
  ix.block = static_cast<uint32_t>(le(12, 4));
  if (!valid_block(ix.block))
    throw fail(12, "block",
               fmt::format("{} is not a power of two in [{}, {}]", ix.block, kMinIndexBlock, kMaxIndexBlock));
  ix.image_size = le(16, 8);
  if (ix.image_size > (uint64_t{1} << 50))
    throw fail(16, "image_size", fmt::format("{} bytes is past 1 PiB", ix.image_size));
  if (auto n = le(24, 8); n != ix.blocks())
    throw fail(24, "blocks",
               fmt::format("{}, but image_size {} in blocks of {} is {}", n, ix.image_size, ix.block, ix.blocks()));
  const uint64_t data_blocks = le(32, 8);
  if (data_blocks > ix.blocks())
    throw fail(32, "data_blocks", fmt::format("{}, more than the {} blocks", data_blocks, ix.blocks()));
  const size_t map_len = static_cast<size_t>((ix.blocks() + 7) / 8);
  const uint64_t want = kHeader + kDigest + map_len + data_blocks * 16;
  if (bytes.size() < want)
    throw fail(bytes.size(), "hashes",
               fmt::format("truncated: the file is {} bytes, its header says {}", bytes.size(), want));
  if (bytes.size() > want)
    throw fail(want, "end", fmt::format("{} bytes after the last hash (the header says {} bytes)", bytes.size() - want,
                                        want));
  const uint8_t* body = bytes.data() + kHeader + kDigest;
  Digest stored{};
  std::memcpy(stored.data(), bytes.data() + kHeader, kDigest);
  if (digest_of(bytes.data(), body, bytes.size() - kHeader - kDigest) != stored)
    throw fail(kHeader, "digest", "does not match the header and hashes (a corrupted or edited index)");
  ix.data_map.assign(body, body + map_len);
  if (ix.blocks() % 8 != 0 && (ix.data_map.back() >> (ix.blocks() % 8)) != 0)
    throw fail(kHeader + kDigest + map_len - 1, "data_map", "bits set past the last block");
  uint64_t set = 0;
  for (uint64_t b = 0; b < ix.blocks(); ++b) set += ix.has_data(b);
  if (set != data_blocks)
    throw fail(32, "data_blocks", fmt::format("{}, but the data map marks {} blocks", data_blocks, set));
  ix.hashes.resize(static_cast<size_t>(data_blocks));
  for (size_t i = 0; i < ix.hashes.size(); ++i) std::memcpy(ix.hashes[i].data(), body + map_len + 16 * i, 16);
  fill_hash_at(ix);
  return ix;
}

}  // namespace source
