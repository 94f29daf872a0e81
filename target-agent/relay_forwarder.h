#pragma once
// The forwarder of a relaying agent (docs/protocol.md, "Relay",
// "Forwarding"): one thread that sends the session's placement frames on to
// the downstream agent over a hop authenticated with the host-issued key —
// acting there as the host would: OPEN, frames from the downstream's own
// watermark, FINISH, BYE. While the hop is live the receiver waits for room
// in a bounded queue (the slowest node holds the chain back); after a drop,
// or a downstream that took nothing for the stall time, it catches the
// downstream up by re-reading the missing range from this node's target.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "protocol/channel.h"
#include "protocol/messages.h"
#include "target-agent/range_list.h"

namespace agent {

struct Downstream {
  std::string address;  // numeric ADDR:PORT
  mkproto::HopKey key{};
  std::chrono::milliseconds stall{5000};
};

// The image as this node holds it, for catching a downstream up.
class ReplaySource {
 public:
  virtual ~ReplaySource() = default;
  // End of the prefix this node has applied: only below it may read() be asked.
  virtual uint64_t readable() const = 0;
  // [offset, offset + out.size()) of the image on this node. Throws ProtocolError(kIo).
  virtual void read(uint64_t offset, std::span<uint8_t> out) = 0;
};

class Forwarder {
 public:
  // Payload bytes queued for the downstream; with the writer's queue this
  // keeps a relaying agent within its 16 MiB.
  static constexpr size_t kQueueBytes = 2u << 20;
  static constexpr uint64_t kReplayChunk = 1u << 20;
  static constexpr size_t kReplayFrame = 256u << 10;  // DATA frames of a catch-up
  static constexpr int kMaxAttempts = 10;  // reconnects without progress, then the hop failed

  // open: the session as this node's OPEN announced it (forwarded with an
  // empty path: the downstream's own --target).
  Forwarder(mkproto::Open open, std::shared_ptr<ReplaySource> source, std::string agent_name,
            std::chrono::milliseconds io_timeout);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // A new downstream (none: forward nothing). The current hop is closed;
  // the new one resumes at that node's own durable watermark.
  void set_downstream(std::optional<Downstream> d);
  // The receiver, in frame order, each placement frame of the first pass
  // once validated; `length` is its bytes on the target. Blocks while the
  // hop is live and the queue is full, at most the downstream's stall time.
  // The frame is shared with the writer, never copied.
  void offer(std::shared_ptr<const mkproto::Frame> f, uint64_t length);
  // This node's FINISH succeeded: the image is [0, image_size).
  void finish(uint64_t image_size);

  struct Status {
    mkproto::HopState state = mkproto::HopState::kNone;
    uint64_t hop_durable = 0;
    uint32_t reconnects = 0;
    std::string message;
  };
  Status status() const;

 private:
  struct Item {
    std::shared_ptr<const mkproto::Frame> frame;  // shared: the sender may still hold one the queue let go
    uint64_t length = 0;
    uint64_t end() const { return frame->offset + length; }
  };
  struct Hop;  // one connection to the downstream (relay_forwarder.cpp)
  void run();
  // One connection: returns true once the downstream FINISHED, false when
  // replaced or stopped; throws on failure.
  bool serve(const Downstream& d, uint64_t generation, uint64_t& progress);
  void replay(Hop& hop, uint64_t& next, uint64_t end, uint64_t generation);
  bool replaced(uint64_t generation) const;  // under m_
  void pop_front();                          // under m_
  void evict_sent(size_t room);              // under m_: sent frames go first
  void set_state(mkproto::HopState s, const std::string& message = {});

  const mkproto::Open open_;
  const std::shared_ptr<ReplaySource> source_;
  const std::string name_;
  const std::chrono::milliseconds io_timeout_;

  mutable std::mutex m_;
  std::condition_variable cv_;
  // Frames in order: the first sent_ of them were sent and are kept (within
  // kQueueBytes) so a hop that drops resends them from memory; the rest
  // wait for the hop.
  std::deque<Item> queue_;
  size_t sent_ = 0;
  size_t queued_bytes_ = 0;
  uint64_t offered_end_ = 0;  // end of the last offered frame
  RangeList dont_care_;       // SKIP dont-care seen, sent again as such on a catch-up
  std::optional<Downstream> down_;
  uint64_t generation_ = 0;   // +1 per set_downstream
  std::optional<uint64_t> finish_size_;
  // The receiver waits for room (back-pressure) until the downstream stalls
  // for its stall time; again once the hop is live.
  bool holding_back_ = true;
  // The current hop's channel: set_downstream() shuts it down, so a send
  // stuck on a stopped downstream gives way at once.
  mkproto::SocketChannel* hop_channel_ = nullptr;
  bool stop_ = false;
  Status status_;
  std::thread thread_;
};

}  // namespace agent
