#pragma once
// `push URL --delta` with an image index (docs/index.md): finds and checks
// the index, and asks the server once, before anything reaches the node,
// whether it does multi-range requests and serves the image the index
// describes. The answer decides how the push reads the image.
#include <memory>
#include <string>

#include "mkmaster/source/image_index.h"

namespace push {

struct IndexPlan {
  // Set: the push reads only the changed blocks through an IndexedReader.
  // Null: it reads the whole image (no index, or the server ignores Range).
  std::shared_ptr<const source::ImageIndex> index;
  std::string where;       // the index's path or URL
  uint64_t index_bytes = 0;
  uint64_t probe_bytes = 0;  // response bytes of the probe request
  std::string note;        // what was decided and why, for the result
};

// index_option: "" = look for IMAGE_URL.mkidx (absent: read the whole
// image, and say so); "none": do not; else a path or URL that must hold a
// valid index. Throws SourceError for a malformed index, an index of
// another image (size, or a probed block's hash), an HTTP error.
IndexPlan plan_index(const std::string& image_url, const std::string& index_option);

}  // namespace push
