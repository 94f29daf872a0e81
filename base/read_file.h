#pragma once
// A whole file's bytes in one call. Callers word their own error (which file,
// what it was for), so failure is a value, with errno saying why.
#include <optional>
#include <string>

namespace base {

// nullopt if the file cannot be opened or read (a directory cannot be
// read); errno is set then.
std::optional<std::string> read_file(const std::string& path);

// The first line of a small text file (a sysfs attribute such as
// /sys/block/sda/dev), without its newline; "" if it cannot be read.
std::string read_first_line(const std::string& path);

}  // namespace base
