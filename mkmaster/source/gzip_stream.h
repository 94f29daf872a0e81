#pragma once
// gzip through zlib's inflate rather than libarchive: libarchive 3.6's gzip
// filter never checks the CRC-32/ISIZE trailer, so a corrupted .gz would be
// flashed without a word. zlib checks every member's trailer; concatenated
// members (pigz, `cat a.gz b.gz`) are read one after the other.
#include <memory>
#include <optional>

#include "mkmaster/source/byte_stream.h"

namespace source {

std::unique_ptr<ByteStream> open_gzip_stream(std::unique_ptr<ByteStream> compressed, std::optional<uint64_t> size_hint);

}  // namespace source
