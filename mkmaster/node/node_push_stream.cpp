// The stream-image step's default: the protocol helper's push_image.
#include <fmt/core.h>

#include <chrono>

#include "mkmaster/node/node_push.h"
#include "mkmaster/push/push.h"
#include "protocol/auth.h"

namespace mknode {

StreamResult push_with_agent(const StreamRequest& req) {
  push::PushOptions o;
  o.image = req.image;
  o.agent.agent = req.agent;
  o.agent.key = mkproto::derive_key(req.secret);
  o.agent.io_timeout = req.io_timeout;
  o.target = req.target;
  o.verify = req.verify;
  o.bmap = req.options.bmap;
  o.holes = req.options.skip_holes ? mkproto::HolesMode::kSkip : mkproto::HolesMode::kZero;
  o.delta = req.options.delta;
  o.compress = req.options.compress;
  o.verify_kept = req.options.verify_kept;
  o.retries = req.options.retries;
  // push_image reports often; the node log and --json get one line a second.
  auto last = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  o.on_progress = [&](const push::Progress& p) {
    if (!req.on_progress) return;
    const auto now = std::chrono::steady_clock::now();
    if (p.kind == push::Progress::Kind::kProgress && now - last < std::chrono::seconds(1)) return;
    last = now;
    if (p.kind == push::Progress::Kind::kReconnect)
      req.on_progress(fmt::format("reconnect: {}", p.message));
    else if (p.kind == push::Progress::Kind::kVerify)
      req.on_progress("verifying");
    else if (p.kind == push::Progress::Kind::kProgress && p.image_size)
      req.on_progress(fmt::format("{}/{} bytes ({:.0f}%)", p.position, p.image_size, 100.0 * p.position / p.image_size));
  };
  const push::PushResult r = push::push_image(o);
  return StreamResult{r.image_size, r.seconds, r.verified, r.verify_message};
}

}  // namespace mknode
