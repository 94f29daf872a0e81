#pragma once
// Image-write sessions, remembered across connections so a reconnecting host
// resumes from the durable watermark (docs/protocol.md, "Opening a session").
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "protocol/channel.h"
#include "protocol/messages.h"

namespace agent {

struct Session {
  mkproto::SessionId id{};
  std::string path;
  uint64_t image_size = 0;
  mkproto::HolesMode holes = mkproto::HolesMode::kZero;
  // Guarded by Sessions::mutex_:
  uint64_t durable = 0;
  bool finished = false;
  mkproto::SocketChannel* owner = nullptr;
  // Don't-care ranges [start, end) (SKIP dont-care), excluded from verify.
  // Only the connection that owns the session touches it.
  std::map<uint64_t, uint64_t> dont_care;

  void add_dont_care(uint64_t start, uint64_t end);
  void truncate_dont_care(uint64_t at);
};

class Sessions {
 public:
  // Finds or creates the session for OPEN and makes `me` its owner; if
  // another connection owns it, shuts that connection down and waits until
  // it has released it. Throws ProtocolError (kBadRequest, kBusy).
  std::shared_ptr<Session> acquire(const mkproto::Open& open, const std::string& path, mkproto::SocketChannel* me,
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
