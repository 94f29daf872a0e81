#pragma once
// Compressed images are recognised by their magic bytes (a name can lie:
// "lava.img" is often gzip), and some formats record the uncompressed size.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace source {

enum class Compression { none, gzip, xz, zstd, bzip2 };

// From the first bytes of the file (at least 6 for a certain answer).
Compression detect_compression(const uint8_t* head, size_t n);
const char* compression_name(Compression c);

// The uncompressed size a local compressed file records, or nullopt:
//  * xz: the stream index (exact; liblzma's file-info decoder, all streams);
//  * zstd: the frame headers' content size (exact when every frame has one);
//  * gzip: never. ISIZE is a trailer: the last member's size modulo 4 GiB,
//    and in a truncated file whatever bytes the cut left there (a garbage
//    size must not make a push refuse the image as too large);
//  * bzip2: never (the format does not record it).
// A truncated xz has no index and a truncated zstd frame no complete block
// list, so neither yields a size from a damaged file.
std::optional<uint64_t> recorded_size(const std::string& path, Compression c);

}  // namespace source
