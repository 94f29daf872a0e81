#pragma once
// Who gets a connection slot on the agent. Unauthenticated connections live
// in their own bounded pool: when it is full the oldest is cut for the new
// one, and each is cut when its handshake deadline passes, so idle or
// slowloris peers can neither fill the agent nor hold a slot for long, and
// never take one of the authenticated hosts' slots (a pool of its own).
// Cutting is shutdown(2) on the socket: the connection's thread then fails
// its recv and leaves. A connection leaves before its fd is closed, so a
// shutdown never reaches a reused descriptor.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>

namespace agent {

class Admission {
 public:
  using Clock = std::chrono::steady_clock;
  Admission(size_t max_preauth, size_t max_authenticated, std::chrono::milliseconds handshake_timeout);

  // A new connection (pre-authentication). Returns its ticket; `evicted`
  // tells whether the oldest one was cut to make room.
  uint64_t enter(int fd, Clock::time_point now, bool& evicted);
  // Handshake done: moves the ticket to the authenticated pool. False (and
  // `why`) if it was already cut, or that pool is full.
  bool authenticate(uint64_t ticket, std::string& why);
  // The connection ends (before its fd is closed).
  void leave(uint64_t ticket);
  // Cuts the pre-auth connections whose deadline passed; returns how many.
  size_t expire(Clock::time_point now);
  // Cuts everything (the server stops).
  void shutdown_all();

  size_t preauth() const;
  size_t authenticated() const;

 private:
  struct Entry {
    uint64_t ticket;
    int fd;
    Clock::time_point since;
  };
  const size_t max_preauth_, max_auth_;
  const std::chrono::milliseconds handshake_timeout_;
  mutable std::mutex m_;
  uint64_t next_ = 1;
  std::list<Entry> preauth_;  // oldest first
  std::list<Entry> auth_;
};

// At most `burst` lines per `window`; the rest are counted and reported in
// the next line that is let through ("… (N more suppressed)"), so a flood
// of refused connections cannot grow the node's in-RAM log without bound.
class RateLimitedLog {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimitedLog(size_t burst, std::chrono::milliseconds window) : burst_(burst), window_(window) {}
  // The line to print (with the suppressed count), or "" to print nothing.
  std::string admit(const std::string& line, Clock::time_point now);

 private:
  const size_t burst_;
  const std::chrono::milliseconds window_;
  std::mutex m_;
  Clock::time_point window_start_{};
  size_t in_window_ = 0;
  size_t suppressed_ = 0;
};

}  // namespace agent
