#pragma once
// The last step of the push data path: planned ranges become placement
// frames on one connection. DATA is coalesced up to 1 MiB and adjacent
// ranges of one kind are merged; DATA is zstd-compressed when asked and
// when it shrinks.
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "mkmaster/push/agent_client.h"
#include "mkmaster/push/planner.h"

namespace push {

inline constexpr size_t kFrameData = 1u << 20;

// What the summary reports, counted once per image byte however often a
// resume re-sent it (see FrameSender::fresh).
struct SendCounts {
  uint64_t bytes_sent = 0;  // image bytes in DATA frames, every attempt
  uint64_t data_bytes = 0, hole_bytes = 0, kept_bytes = 0;
  uint64_t counted_to = 0;  // the image is counted up to here
};

class FrameSender : public FrameSink {
 public:
  // `after_send(position)`: after each frame (draining ACKs, progress).
  FrameSender(AgentClient& client, bool compress, SendCounts& counts, std::function<void(uint64_t)> after_send);
  ~FrameSender() override;
  FrameSender(const FrameSender&) = delete;
  FrameSender& operator=(const FrameSender&) = delete;

  void data(uint64_t offset, std::span<const uint8_t> bytes) override;
  void range(RangeKind kind, uint64_t offset, uint64_t length) override;
  // Sends what is still coalescing.
  void flush();

 private:
  void flush_data();
  void flush_range();
  uint64_t fresh(uint64_t off, uint64_t len);

  AgentClient& c_;
  SendCounts& n_;
  std::function<void(uint64_t)> after_send_;
  ZSTD_CCtx* cctx_ = nullptr;
  std::vector<uint8_t> buf_, z_;
  uint64_t buf_off_ = 0;
  bool pending_ = false;
  RangeKind pending_kind_ = RangeKind::kZero;
  uint64_t pending_off_ = 0, pending_len_ = 0;
};

}  // namespace push
