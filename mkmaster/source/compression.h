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
//  * gzip: the ISIZE trailer of the last member, i.e. the size modulo 4 GiB.
//    Only trusted for compressed files < 4 GiB whose ISIZE is not smaller
//    than the compressed file itself; ImageReader then insists the stream
//    really has that length (a gzip image of >= 4 GiB, or a multi-member one,
//    fails with a message saying so: give its .bmap, or use xz/zstd);
//  * bzip2: never (the format does not record it).
std::optional<uint64_t> recorded_size(const std::string& path, Compression c);

}  // namespace source
