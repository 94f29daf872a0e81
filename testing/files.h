#pragma once
// Whole-file reads and writes and seeded random data, for test inputs and
// for checking what the code under test wrote.
#include <cstdint>
#include <string>
#include <vector>

namespace mktest {

using Bytes = std::vector<uint8_t>;

Bytes read_file(const std::string& path);    // empty if it cannot be read
std::string slurp(const std::string& path);  // the same, as text
// Creates the parent directories; throws if the file cannot be written.
void write_file(const std::string& path, const Bytes& data);
void write_file(const std::string& path, const std::string& text);

Bytes random_bytes(size_t n, uint32_t seed);
// Flips one bit of the byte at `at`, in place, as a failing disk (or another
// writer) would; throws if the file cannot be read or written there.
void flip_byte(const std::string& path, uint64_t at);

}  // namespace mktest
