#pragma once
// A local file (or block device) read with pread in large chunks.
#include <memory>
#include <string>

#include "mkmaster/source/byte_stream.h"

namespace source {

std::unique_ptr<ByteStream> open_file_stream(const std::string& path);

}  // namespace source
