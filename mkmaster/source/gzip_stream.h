#pragma once
// gzip through zlib's inflate rather than libarchive: libarchive 3.6's gzip
// filter never checks the CRC-32/ISIZE trailer, so a corrupted .gz would be
// flashed without a word. zlib checks every member's trailer; concatenated
// members (pigz, `cat a.gz b.gz`) are read one after the other.
#include <memory>

#include "mkmaster/source/byte_stream.h"

namespace source {

// The size is never known in advance: ISIZE is only the last member's
// length modulo 4 GiB, and in a truncated file it is whatever bytes the cut
// left at the end. A trailer is no reason to refuse an image.
std::unique_ptr<ByteStream> open_gzip_stream(std::unique_ptr<ByteStream> compressed);

}  // namespace source
