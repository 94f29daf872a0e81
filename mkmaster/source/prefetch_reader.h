#pragma once
// Runs an ImageReader in its own thread, a bounded number of bytes ahead of
// the consumer: reading, decompressing, zero detection and .bmap checksums
// overlap with whatever the consumer does (sending frames). Errors are
// carried over and thrown by next() in the consumer's thread.
#include <cstddef>
#include <memory>

#include "mkmaster/source/image_reader.h"

namespace source {

std::unique_ptr<ImageReader> prefetch(std::unique_ptr<ImageReader> inner, size_t max_bytes_ahead);

}  // namespace source
