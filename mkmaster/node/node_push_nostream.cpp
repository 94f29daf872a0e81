// Used only when this tree has no mkmaster/push (the data path): the
// pipeline still builds, and stream-image fails with this message.
#include <stdexcept>

#include "mkmaster/node/node_push.h"

namespace mknode {

StreamResult push_with_agent(const StreamRequest&) {
  throw std::runtime_error("this mkmaster was built without mkmaster/push (push_image): cannot stream the image");
}

}  // namespace mknode
