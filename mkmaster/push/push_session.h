#pragma once
// One image push from start to end: the reconnect loop and everything that
// must survive a reconnect — the image size once learned, the verify
// digest, the target's delta hashes, the acknowledged watermark, the
// counters and timings of the result. Each attempt is one AgentClient
// connection; the protocol exchanges are AgentClient's, the data path
// (source → planner → digest tee → frame sender) is stream()'s.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mkmaster/push/frame_sender.h"
#include "mkmaster/push/hash_inbox.h"
#include "mkmaster/push/index_source.h"
#include "mkmaster/push/indexed_reader.h"
#include "mkmaster/push/push.h"
#include "mkmaster/push/repair.h"
#include "protocol/block_digest.h"
#include "protocol/boot_layout.h"

namespace push {

class PushSession {
 public:
  // Opens the image (its size is learned here when the source knows it).
  explicit PushSession(const PushOptions& options);
  // Throws as push_image() does. A failure after the agent opened the
  // target and before FINISHED says what of the image is durable there.
  PushResult run();

 private:
  PushResult run_attempts();
  // "durable [a, b); the rest is undefined; the disk will not boot", from
  // the acknowledged watermark and the target's boot layout.
  std::string durable_note() const;
  std::string target_name() const;
  using Clock = std::chrono::steady_clock;
  bool size_known() const { return size_ != mkproto::kImageSizeUnknown; }
  // One connection: OPEN, stream from the watermark, FINISH, VERIFY, BYE.
  void attempt(AgentClient& client);
  // Plans the image from `read_from` (a verify-block boundary) and sends
  // from `send_from` >= read_from on.
  void stream(AgentClient& client, uint64_t read_from, uint64_t send_from);
  // stream()'s loop over the reader's extents.
  void stream_extents(AgentClient& client, source::ImageReader& reader, uint64_t read_from, uint64_t send_from);
  // A range mismatch, saying what of that range the target may hold.
  source::RangeMismatch unverified(const source::RangeMismatch& e) const;
  // early: the overlapped VERIFY sent after OPENED (its rest is awaited).
  void verify(AgentClient& client, bool early);
  mkproto::VerifyScope verify_scope() const;
  // Re-sends the bad verify blocks and reads them back, in rounds; throws
  // naming what stays wrong (docs/protocol.md, "Repair").
  void repair(AgentClient& client, const mkproto::Verify& request, std::vector<ByteRange> bad, uint64_t& bytes_read);
  // The reader for this attempt: the one opened first, else a new one.
  std::unique_ptr<source::ImageReader> take_reader();
  // The image as this push reads it: through the index, or the source.
  std::unique_ptr<source::ImageReader> open_reader();
  void after_send(AgentClient& client, uint64_t position);
  void report(Progress::Kind kind, const std::string& message, uint64_t position);
  // After a failure: counts it, throws when retries are exhausted, waits.
  void retry_or_throw(const std::exception& e, uint64_t progress_mark, bool dropped);
  // The size the source gives up front, or kImageSizeUnknown.
  uint64_t initial_size();
  // Delta: asks the agent for the target's hashes up to `end` (bounded by
  // the image, or the target while the image size is unknown).
  void want_hashes(AgentClient& client, uint64_t end);
  uint64_t hash_window() const;

  const PushOptions& o_;
  const Clock::time_point t0_ = Clock::now();
  Clock::time_point last_report_{};
  const mkproto::SessionId session_;
  PushResult r_;
  IndexPlan index_;  // delta from a URL: the image index, when the push can use it
  std::shared_ptr<IndexFetchStats> index_stats_ = std::make_shared<IndexFetchStats>();
  std::unique_ptr<source::ImageReader> first_reader_;
  uint64_t announced_;  // OPEN's image_size for every attempt (kImageSizeUnknown or the size)
  uint64_t size_;       // the image size once known
  uint64_t target_size_ = 0;
  mkproto::BlockDigester dig_;
  std::shared_ptr<HashInbox> hashes_;  // delta: kept across reconnects once complete
  SendCounts counts_;
  uint64_t acked_ = 0;
  uint64_t sent_to_ = 0;         // the furthest end of a frame sent, any connection
  bool source_checked_ = false;  // a reader reached its end: ranges matched, the stream ended at the size
  int failures_ = 0;
  // The agent's last progress (start, ACK, reply), over all attempts: the
  // stall budget of a reconnect is what is left of stall_timeout from here.
  Clock::time_point progress_at_ = t0_;
  AgentAddress attempt_address() const;
  // Set by the first OPENED: from then the agent has wiped the boot sectors.
  std::optional<mkproto::BootLayout> boot_;
  bool may_have_wiped_ = false;  // an OPEN was sent and not refused
  bool finished_ = false;        // FINISHED arrived: the image is complete on the target
};

}  // namespace push
