#include "target-agent/session.h"

#include <fmt/core.h>

#include <algorithm>

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

std::shared_ptr<Session> Sessions::acquire(const mkproto::Open& open, const std::string& path,
                                           mkproto::Channel* me, bool& resumed) {
  std::unique_lock lock(mutex_);
  std::shared_ptr<Session> found;
  for (auto& s : sessions_)
    if (s->id == open.session) found = s;
  if (found) {
    if (found->path != path || found->image_size != open.image_size || found->holes != open.holes)
      throw ProtocolError(ErrorCode::kBadRequest,
                          fmt::format("session is known with target {}, image size {}, holes {}; OPEN asks {}, {}, {}",
                                      found->path, found->image_size, static_cast<int>(found->holes), path,
                                      open.image_size, static_cast<int>(open.holes)));
    if (found->owner && found->owner != me) {
      // The host reconnected while the old connection is still being served.
      // Usually it is just draining what arrived before the drop (shutting
      // it down now would discard those bytes): give it time to finish.
      // Only a half-open connection (peer gone, no FIN) needs a push.
      auto released = [&] { return found->owner == nullptr; };
      if (!released_.wait_for(lock, std::chrono::seconds(5), released)) {
        found->owner->shutdown();
        if (!released_.wait_for(lock, std::chrono::seconds(30), released))
          throw ProtocolError(ErrorCode::kBusy, "the previous connection of this session did not let go within 35 s");
      }
    }
    found->owner = me;
    resumed = true;
    sessions_.remove(found);
    sessions_.push_front(found);
    return found;
  }
  for (auto& s : sessions_)
    if (s->owner && s->path == path)
      throw ProtocolError(ErrorCode::kBusy, fmt::format("target {} is being written by another session", path));
  for (auto& s : sessions_)
    if (s->path == path) s->claim.reset();  // idle: nobody owns it (checked above)
  auto s = std::make_shared<Session>();
  s->id = open.session;
  s->path = path;
  s->image_size = open.image_size;
  s->known_size = open.image_size;
  s->holes = open.holes;
  s->owner = me;
  resumed = false;
  sessions_.push_front(s);
  // Keep the 4 most recent; never forget one that is in use.
  while (sessions_.size() > 4) {
    auto victim = std::find_if(sessions_.rbegin(), sessions_.rend(), [](auto& x) { return x->owner == nullptr; });
    if (victim == sessions_.rend()) break;
    sessions_.erase(std::next(victim).base());
  }
  return s;
}

void Sessions::release(const std::shared_ptr<Session>& s) {
  std::lock_guard lock(mutex_);
  s->owner = nullptr;
  released_.notify_all();
}

void Sessions::set_durable(Session& s, uint64_t w) {
  std::lock_guard lock(mutex_);
  s.durable = w;
}
uint64_t Sessions::durable(const Session& s) {
  std::lock_guard lock(mutex_);
  return s.durable;
}
void Sessions::set_finished(Session& s, bool f) {
  std::lock_guard lock(mutex_);
  s.finished = f;
}
bool Sessions::finished(const Session& s) {
  std::lock_guard lock(mutex_);
  return s.finished;
}

}  // namespace agent
