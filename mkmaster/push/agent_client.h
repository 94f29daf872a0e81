#pragma once
// Host side of one connection to target-agent: resolve, connect,
// authenticate; then a reader thread that always drains the socket, so the
// agent never blocks sending to us (HASHES arrive while we stream; see
// docs/protocol.md, "Delta"). recv()/poll() take frames from its queue.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "protocol/auth.h"
#include "protocol/channel.h"
#include "protocol/handshake.h"
#include "protocol/messages.h"
#include "mkmaster/push/hash_inbox.h"

namespace push {

struct AgentAddress {
  std::string agent;  // HOST:PORT (a name is resolved here, on the host)
  mkproto::Key key{};
  std::chrono::milliseconds connect_timeout{10000};
  // Longest the agent may take no bytes we send, or send us nothing while we
  // wait for a frame (zero: forever); also the socket's TCP_USER_TIMEOUT.
  std::chrono::milliseconds io_timeout{120000};
  // Longest wait for each handshake frame (zero: io_timeout). A reconnect
  // gets what is left of the push's stall budget.
  std::chrono::milliseconds handshake_timeout{0};
};

// Loads the key from a secret file with a clear message.
mkproto::Key load_secret(const std::string& secret_file);

class AgentClient {
 public:
  // Connects and authenticates; throws ConnectionClosed / ProtocolError.
  explicit AgentClient(const AgentAddress& addr);
  // Shuts the connection down and joins the reader.
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;
  const std::string& agent_name() const { return agent_name_; }
  // Everything written to the socket so far, frame headers included.
  uint64_t bytes_sent() const;

  // Image session (docs/protocol.md): OPEN → OPENED.
  mkproto::Opened open(const mkproto::Open& request);
  // Placement frames; `flags` of DATA: kFlagZstd when `payload` is a zstd
  // frame of the image bytes.
  void send_data(uint64_t offset, uint16_t flags, std::span<const uint8_t> payload);
  void send_zero(uint64_t offset, uint64_t length);
  void send_skip(uint64_t offset, uint64_t length, mkproto::SkipReason reason);
  // FINISH (the final image size) → FINISHED; returns the durable watermark.
  uint64_t finish(uint64_t image_size, const std::function<void(uint64_t)>& on_ack);
  // VERIFY → DIGESTS… VERIFY_END: the agent's digests of the target.
  struct VerifyReply {
    std::vector<mkproto::Digest128> digests;
    std::vector<uint64_t> offsets;  // of each digest's block
    mkproto::VerifyEnd end;
  };
  VerifyReply verify(const mkproto::Verify& request);
  // An overlapped VERIFY (request.overlap != kAfterFinish), sent right
  // after OPENED: DIGESTS arriving while the image streams (poll(), recv())
  // are collected, and end_verify() waits for the rest and VERIFY_END. The
  // digests come in the agent's order: the boot sectors' blocks last.
  void start_verify(const mkproto::Verify& request);
  VerifyReply end_verify();
  // REPAIR: the placement frames that follow rewrite [offset, offset+length).
  void repair(uint64_t offset, uint64_t length);
  // A request whose answer the caller reads with recv() (files, exec).
  void send(const mkproto::Frame& request);
  void send_file_data(uint64_t offset, std::span<const uint8_t> bytes);

  // Next frame that is not an ACK (ACKs go to on_ack). An ERROR frame is
  // thrown as ProtocolError.
  mkproto::Frame recv(const std::function<void(uint64_t)>& on_ack = {});
  // Drains frames that have already arrived without blocking (ACKs, an
  // ERROR: thrown). Used while streaming.
  void poll(const std::function<void(uint64_t)>& on_ack);
  // Sends HASH_REQUEST over [offset, offset+length) in `block` blocks; the
  // reader thread puts the HASHES into `inbox` as they arrive.
  void request_hashes(uint64_t offset, uint64_t length, uint32_t block, std::shared_ptr<HashInbox> inbox);
  // revoke: tell the agent to forget its secret and exit (BYE revoke).
  void bye(bool revoke = false) noexcept;
  // When the agent last showed progress: an ACK (it acknowledges at least
  // every second while data is applied), FINISHED, HASHES, DIGESTS or the end
  // of either; the connection's start if none yet.
  std::chrono::steady_clock::time_point progress_at() const;
  // Relay control connection (docs/protocol.md, "Relay"): the latest
  // RELAY_STATUS the agent sent (they never enter the recv() queue) and how
  // many came so far; whether the connection has ended (agent gone).
  std::optional<mkproto::RelayStatus> relay_status(uint64_t* count = nullptr);
  bool ended();

 private:
  void read_loop() noexcept;
  // A DIGESTS or VERIFY_END of the overlapped VERIFY: collected; false for
  // any other frame.
  bool take_early_verify(const mkproto::Frame& f);
  // Next queued frame; waits up to the I/O timeout.
  mkproto::Frame next_frame();

  std::unique_ptr<mkproto::SocketChannel> ch_;
  std::string agent_name_;
  std::chrono::milliseconds io_timeout_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<mkproto::Frame> queue_;  // frames other than HASHES, in order
  size_t queued_bytes_ = 0;
  std::exception_ptr failure_;        // how reading ended (after the queue)
  bool closing_ = false;
  std::shared_ptr<HashInbox> inbox_;
  std::optional<mkproto::RelayStatus> relay_status_;
  uint64_t relay_statuses_ = 0;
  bool ended_ = false;
  // The overlapped VERIFY's reply so far (main thread only).
  std::optional<VerifyReply> early_;
  uint32_t early_block_ = 0;
  bool early_done_ = false;
  std::atomic<std::chrono::steady_clock::rep> progress_at_{0};
  std::thread reader_;
};

// "host:port" → "ip:port" (numeric) via getaddrinfo.
std::string resolve(const std::string& host_port);

}  // namespace push
