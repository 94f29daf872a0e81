#pragma once
// Decompresses another ByteStream on the fly with libarchive (raw format +
// every filter: gzip, xz, zstd, bzip2, ...). Nothing is staged on disk.
#include <memory>
#include <optional>

#include "mkmaster/source/byte_stream.h"
#include "mkmaster/source/compression.h"

namespace source {

// `size_hint`: the uncompressed size the container records (compression.h),
// reported by size(); the stream then fails if its real length differs.
std::unique_ptr<ByteStream> open_archive_stream(std::unique_ptr<ByteStream> compressed, Compression kind,
                                                std::optional<uint64_t> size_hint);

}  // namespace source
