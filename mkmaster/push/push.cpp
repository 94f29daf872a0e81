#include "mkmaster/push/push.h"

#include <fmt/core.h>

#include <stdexcept>

#include "mkmaster/push/frame_sender.h"
#include "mkmaster/push/push_session.h"

namespace push {

std::unique_ptr<source::ImageReader> open_image_source(const PushOptions& o) {
  if (o.open_source) return o.open_source();
  source::OpenOptions so;
  so.bmap_path = o.bmap;
  so.max_extent = static_cast<uint32_t>(kFrameData);
  return source::open_image(o.image, so);
}

std::string check_image(const PushOptions& o) {
  const auto reader = open_image_source(o);
  // The first extent too: a file that is not the compressed stream its name
  // says (a corrupt download) fails here, not after the node was booted.
  source::Extent first;
  (void)reader->next(first);
  const auto size = reader->size();
  return size ? fmt::format("{}: {} bytes", reader->describe(), *size) : reader->describe() + ": size known at its end";
}

PushResult push_image(const PushOptions& o) {
  if (o.delta_block > o.verify_block || o.verify_block % o.delta_block != 0)
    throw std::invalid_argument("delta block must divide the verify block");
  return PushSession(o).run();
}

}  // namespace push
