#pragma once
// Image-write sessions, remembered across connections so a reconnecting host
// resumes from the durable watermark (docs/protocol.md, "Opening a session").
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "base/unique_fd.h"
#include "protocol/channel.h"
#include "protocol/messages.h"
#include "target-agent/boot_region.h"
#include "target-agent/range_list.h"

namespace agent {

struct Session {
  mkproto::SessionId id{};
  std::string path;
  uint64_t image_size = 0;  // as OPEN announced it (a resume announces the same)
  // The image's size once known: from OPEN, or from FINISH when OPEN said
  // kImageSizeUnknown (until then placements are bounded by the target).
  uint64_t known_size = mkproto::kImageSizeUnknown;
  mkproto::HolesMode holes = mkproto::HolesMode::kZero;
  // Guarded by Sessions::mutex_:
  uint64_t durable = 0;
  bool finished = false;
  mkproto::Channel* owner = nullptr;
  // Only the connection that owns the session touches these.
  RangeList dont_care;  // SKIP dont-care: never verified
  RangeList kept;       // SKIP keep (delta): verified only with VerifyScope::kAll
  // The boot sectors: wiped at the first OPEN, the image's held until FINISH.
  // Lives with the session so a reconnect keeps what was held.
  BootRegion boot;
  // A block device target's O_EXCL descriptor, held from the first OPEN
  // until the host's BYE, a new session on the same target, or the session
  // being forgotten: a dropped connection does not give the device back, so
  // nothing can mount it (or swap or dm/md on it) before the host resumes.
  // Sessions::acquire may drop it when no connection owns the session.
  base::UniqueFd claim;

  // Relay catch-up (relay.cpp): the prefix of the image this node holds
  // (applied by its writer; boot bytes held in `boot`), read by a forwarder
  // thread. replay_mutex guards it, and `boot` against a restart or the
  // commit while a forwarder copies held bytes.
  std::mutex replay_mutex;
  uint64_t readable = 0;
  // End of the placement frames received and validated in order (handed to
  // the writer): RELAY_STATUS's `applied`, so the host sees a node fall
  // behind before its writer's next ACK.
  std::atomic<uint64_t> received{0};
  void note_applied(uint64_t applied) {
    std::lock_guard lock(replay_mutex);
    readable = std::max(readable, applied);
  }

  // A restart at `at` re-sends everything from there.
  void restart_at(uint64_t at) {
    dont_care.truncate(at);
    kept.truncate(at);
    std::lock_guard lock(replay_mutex);
    boot.restart_at(at);
    readable = std::min(readable, at);
  }
};

class Sessions {
 public:
  // Finds or creates the session for OPEN and makes `me` its owner; if
  // another connection owns it, shuts that connection down and waits until
  // it has released it. A new session drops the claim of every idle one on
  // the same path (a new push supersedes them). Throws ProtocolError
  // (kBadRequest, kBusy).
  std::shared_ptr<Session> acquire(const mkproto::Open& open, const std::string& path, mkproto::Channel* me,
                                   bool& resumed);
  void release(const std::shared_ptr<Session>& s);
  void set_durable(Session& s, uint64_t w);
  uint64_t durable(const Session& s);
  void set_finished(Session& s, bool f);
  bool finished(const Session& s);

 private:
  std::mutex mutex_;
  std::condition_variable released_;
  std::list<std::shared_ptr<Session>> sessions_;  // most recent first
};

}  // namespace agent
