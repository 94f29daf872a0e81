#pragma once
// VERIFY while the image streams (docs/protocol.md, "Verify while the image
// streams"): a thread that reads back and digests each verify block once the
// writer has made it durable, while later frames still arrive, and sends
// DIGESTS as it goes. At FINISH only the last synced stretch and the boot
// sectors (written at FINISH) are left to read, so "verified" follows the
// last byte closely. On a rotational disk (unless the host insists) it reads
// nothing before FINISH: reading behind the writer would cost a seek each way.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "protocol/boot_layout.h"
#include "protocol/channel.h"
#include "protocol/messages.h"
#include "target-agent/range_list.h"
#include "target-agent/read_back.h"

namespace agent {

class EarlyVerifier {
 public:
  struct Setup {
    uint32_t block = 1u << 20;
    mkproto::VerifyScope scope = mkproto::VerifyScope::kAll;
    bool defer = false;              // read nothing before FINISH (a rotational disk)
    mkproto::BootLayout boot;        // held by the writer until FINISH: read after it
    std::vector<ByteRange> dont_care, kept;  // what earlier connections of the session recorded
    bool finished = false;           // the session was FINISHED already (a resume after it)
    uint64_t image_size = mkproto::kImageSizeUnknown;  // known_size
  };
  // durable(): the writer's durable watermark (any thread). Errors: a read
  // error is sent as ERROR `io` (watermark from durable()); a failed send
  // shuts the channel down.
  EarlyVerifier(std::unique_ptr<ReadBack> reader, Setup setup, std::function<uint64_t()> durable,
                mkproto::Channel& ch);
  ~EarlyVerifier();  // stop() with no unblock, then join
  EarlyVerifier(const EarlyVerifier&) = delete;
  EarlyVerifier& operator=(const EarlyVerifier&) = delete;

  // The receiver, for every placement frame outside a repair: reading may
  // start (the session's restart point is known), and a SKIP's range is
  // left out as VERIFY's scope says.
  void placed(uint64_t offset, uint64_t length, std::optional<mkproto::SkipReason> skip);
  // FINISHED was sent: everything is durable, the boot sectors are written.
  void finished(uint64_t image_size);
  // Whether VERIFY_END (or an ERROR) was sent, waiting up to `wait` for it:
  // the host may send its next request as soon as VERIFY_END arrives,
  // before this thread has marked itself done.
  bool done(std::chrono::milliseconds wait = std::chrono::milliseconds(0)) const;
  // Cuts it short; if the thread is stuck sending for a second, `unblock`
  // (shuts the connection down), then joins.
  void stop(const std::function<void()>& unblock);

 private:
  void run() noexcept;
  void work();
  std::vector<ByteRange> excluded_now();

  std::unique_ptr<ReadBack> rb_;
  const Setup setup_;
  std::function<uint64_t()> durable_;
  mkproto::Channel& ch_;
  mutable std::mutex m_;
  mutable std::condition_variable cv_;
  RangeList dont_care_, kept_;  // guarded by m_
  bool started_ = false, finished_ = false, stop_ = false, done_ = false;
  uint64_t size_;
  std::thread th_;
};

}  // namespace agent
