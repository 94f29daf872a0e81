#include "mkmaster/push/push.h"

#include <stdexcept>

#include "mkmaster/push/push_session.h"

namespace push {

PushResult push_image(const PushOptions& o) {
  if (o.delta_block > o.verify_block || o.verify_block % o.delta_block != 0)
    throw std::invalid_argument("delta block must divide the verify block");
  return PushSession(o).run();
}

}  // namespace push
