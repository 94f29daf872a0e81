#pragma once
// The writer thread: applies validated DATA/ZERO/SKIP frames in order,
// decompresses zstd payloads, coalesces consecutive DATA into large
// pwritev()s, zeroes holes exactly, and fdatasyncs periodically to advance
// the durable watermark (docs/protocol.md, "Acknowledgement"). Bytes for the
// boot sectors go to the session's BootRegion instead of the disk.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "protocol/errors.h"
#include "protocol/messages.h"
#include "target-agent/boot_region.h"

namespace agent {

struct WriteItem {
  enum class Kind { kData, kZero, kSkip } kind = Kind::kData;
  uint64_t offset = 0;
  uint64_t length = 0;  // bytes on the target (uncompressed)
  bool zstd = false;
  std::vector<uint8_t> payload;  // DATA only
  // Or, on a relaying agent, the frame the forwarder sends on as well: the
  // disk and the next node share one buffer, not a copy each.
  std::shared_ptr<const mkproto::Frame> frame;
  std::span<const uint8_t> bytes() const {
    return frame ? std::span<const uint8_t>(frame->payload) : std::span<const uint8_t>(payload);
  }
};

class TargetWriter {
 public:
  // Payload bytes queued or being written; with the receive buffers this
  // keeps the agent's RSS under 16 MiB (measured, docs/protocol.md).
  static constexpr size_t kQueueBytes = 4u << 20;
  static constexpr uint64_t kSyncEvery = 64u << 20;
  static constexpr size_t kMaxWrite = 2u << 20;

  // A progress ACK at least this often while items are applied, so the host
  // tells a slow disk (ACKs keep coming) from a dead agent (silence).
  static constexpr std::chrono::milliseconds kAckEvery{1000};

  // fd: the target opened O_RDWR. start: durable watermark to continue from.
  // on_ack(durable, applied) is called from the writer thread after each
  // periodic sync (durable == applied) and, between syncs, after an applied
  // batch once kAckEvery has passed since the last call (durable unchanged).
  // boot: where the boot sectors' bytes are held (null: written in place);
  // only the writer thread touches it until drain_and_sync()/stop().
  TargetWriter(int fd, bool block_device, uint32_t sector_size, uint64_t start,
               std::function<void(uint64_t durable, uint64_t applied)> on_ack, BootRegion* boot = nullptr);
  ~TargetWriter();
  TargetWriter(const TargetWriter&) = delete;
  TargetWriter& operator=(const TargetWriter&) = delete;

  // Blocks while the queue is full. Throws the writer's error if it failed.
  void push(WriteItem item);
  // Waits until everything queued is applied, syncs, returns the durable
  // watermark. Throws the writer's error if it failed (after which the
  // watermark stays at the last good sync).
  uint64_t drain_and_sync();
  // Durable watermark now (no waiting).
  uint64_t durable() const;
  // Syncs (and ACKs) every `bytes` instead of kSyncEvery: an overlapped
  // VERIFY reads back only what is durable, so its tail after FINISH is
  // at most this much.
  void sync_every(uint64_t bytes) { sync_every_ = bytes; }
  // Stops the thread after applying what is queued and syncing; never throws.
  uint64_t stop() noexcept;

 private:
  void run();
  void apply_data(std::vector<WriteItem>& batch);
  void zero_range(uint64_t offset, uint64_t length);
  void write_zeros(uint64_t offset, uint64_t length);
  void sync_now();
  [[noreturn]] void fail(mkproto::ErrorCode code, const std::string& msg);

  int fd_;
  bool block_device_;
  uint32_t sector_;
  std::function<void(uint64_t, uint64_t)> on_ack_;
  std::chrono::steady_clock::time_point last_ack_ = std::chrono::steady_clock::now();
  void ack(uint64_t durable) noexcept;
  BootRegion* boot_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<WriteItem> queue_;
  size_t queued_bytes_ = 0;
  bool busy_ = false, stopping_ = false, sync_requested_ = false;
  uint64_t applied_ = 0;   // end of the last applied item (writer thread)
  uint64_t durable_ = 0;   // guarded by m_
  uint64_t since_sync_ = 0;
  std::atomic<uint64_t> sync_every_{kSyncEvery};
  std::optional<mkproto::ProtocolError> error_;
  void* zctx_ = nullptr;  // ZSTD_DCtx
  std::vector<uint8_t> scratch_;
  std::thread thread_;
};

}  // namespace agent
