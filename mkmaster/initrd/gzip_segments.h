#pragma once
// gzip for the initrd, built from independently deflated segments
// (libdeflate, almost 3x faster than zlib at the same size), pigz-style: each
// segment is its own raw deflate stream whose last block is made non-final
// and followed by an empty stored block (a sync flush marker), so their
// concatenation is one valid deflate stream and the file is a single
// ordinary gzip member (the kernel, gunzip and libarchive read it).
// Why: a segment's bytes depend only on its content and the level, so the
// compressed form of every large file is cached under $MKMASTER_CACHE and a
// rebuild only deflates what changed (cpio headers, new files); segments
// that miss the cache are compressed in parallel. The result is
// byte-identical whether the cache was cold, warm or disabled.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace initrd {

struct ByteRange {
  size_t begin = 0, end = 0;
};

struct GzipStats {
  size_t segments = 0, cached = 0, compressed = 0;
};

// `cacheable`: sorted, non-overlapping ranges of `data` worth caching (file
// contents); everything else is deflated fresh, merged into as few segments
// as possible. cache_dir empty: no cache. The gzip header has no name and
// mtime 0. Throws std::runtime_error on a compressor failure; an unwritable cache
// only costs speed.
std::string gzip_segmented(std::string_view data, const std::vector<ByteRange>& cacheable,
                           const std::string& cache_dir, int level = 6, GzipStats* stats = nullptr);

}  // namespace initrd
