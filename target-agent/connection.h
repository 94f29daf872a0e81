#pragma once
// One authenticated host connection on the agent: the state machine of
// docs/protocol.md (handshake, then image session / files / exec requests).
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "protocol/channel.h"
#include "target-agent/admission.h"
#include "target-agent/block_hasher.h"
#include "target-agent/relay.h"
#include "target-agent/early_verify.h"
#include "target-agent/session.h"
#include "target-agent/target.h"
#include "target-agent/writer.h"

namespace agent {

// What a connection needs from its server (admission.h, server.cpp).
struct ConnectionContext {
  Admission* admission = nullptr;  // none: no admission control (tests of one connection)
  uint64_t ticket = 0;
  std::string peer;                       // the peer's address, for logs
  const std::atomic<bool>* revoked = nullptr;  // the secret was revoked: refuse even a correct AUTH
  std::function<void(const std::string&)> log_refusal;  // rate-limited
  std::function<void()> revoke;           // BYE revoke: forget the secret and stop
  Relay* relay = nullptr;                 // none: no relay (docs/protocol.md, "Relay")
};

class Connection {
 public:
  // A host's TCP connection: serve() does the handshake first.
  Connection(const AgentConfig& cfg, Sessions& sessions, int fd, ConnectionContext ctx = {});
  // Without a socket (the session fuzzer drives the state machine this way):
  // `ch` already carries the session keys, as a handshake would have left
  // them; call serve_requests(), not serve().
  Connection(const AgentConfig& cfg, Sessions& sessions, std::unique_ptr<mkproto::Channel> ch,
             ConnectionContext ctx = {});
  ~Connection();
  // Handshake, admission, then serve_requests(). Never throws.
  void serve() noexcept;
  // The authenticated requests: runs until the host says BYE, the channel
  // ends or a protocol error (answered with an ERROR frame). Never throws.
  void serve_requests() noexcept;

 private:
  bool dispatch(mkproto::Frame& f);  // false: end of connection
  void on_open(const mkproto::Frame& f);
  void on_place(mkproto::Frame& f);
  void on_sync();
  void on_finish(const mkproto::Frame& f);
  void on_hash_request(const mkproto::Frame& f);
  void on_verify(const mkproto::Frame& f);
  // VERIFY with overlap (verify_ops.cpp): the read-back runs beside the
  // stream in verifier_, which sends DIGESTS and VERIFY_END itself.
  void start_early_verify(const mkproto::Verify& req);
  // `what` may not run while an overlapped VERIFY still reads back.
  void require_no_early_verify(const char* what);
  // The writer's sync interval while an overlapped VERIFY reads behind it.
  static constexpr uint64_t kEarlyVerifySyncEvery = 16u << 20;
  // The writer's ACK callback (writer thread): records the durable watermark
  // for the overlapped VERIFY, sends the ACK.
  void on_writer_ack(uint64_t durable, uint64_t applied);
  // Repair (docs/protocol.md, "Repair"; repair_ops.cpp): REPAIR starts or
  // continues a round, placement frames inside it go through
  // check_in_repair, FINISH ends it with end_repair.
  void on_repair(const mkproto::Frame& f);
  void check_in_repair(const mkproto::Frame& f, uint64_t length);
  void require_repair_covered(const char* what) const;
  uint64_t end_repair();
  void on_get_file(const mkproto::Frame& f);
  void on_put_file(const mkproto::Frame& f);
  void on_exec(const mkproto::Frame& f);
  // Relay (relay.h): RELAY_ACCEPT / RELAY_CONNECT on a control connection,
  // which then reports RELAY_STATUS every kStatusEvery until it ends; a
  // relay connection (authenticated with the hop key) may only place
  // frames of the relayed session.
  void on_relay(const mkproto::Frame& f);
  void check_relay_request(const mkproto::Frame& f) const;
  void stop_status() noexcept;
  std::function<void(uint64_t, uint64_t)> ack_to_host();
  void require_session(const mkproto::Frame& f);
  void check_in_image(const mkproto::Frame& f, uint64_t length) const;
  // Drains the writer, records the durable watermark in the session and
  // releases it. Returns the watermark.
  uint64_t close_session() noexcept;

  const AgentConfig& cfg_;
  Sessions& sessions_;
  ConnectionContext ctx_;
  std::unique_ptr<mkproto::Channel> channel_;
  mkproto::Channel& ch_;
  mkproto::SocketChannel* socket_ = nullptr;  // the same channel when it is a socket: timeouts, hang-up
  std::shared_ptr<Session> session_;
  int target_fd_ = -1;
  bool block_device_ = false;
  uint32_t sector_ = 512;
  uint64_t device_size_ = 0;
  std::unique_ptr<TargetWriter> writer_;
  std::unique_ptr<BlockHasher> hasher_;  // a HASH_REQUEST being answered (reads target_fd_)
  std::unique_ptr<EarlyVerifier> verifier_;  // an overlapped VERIFY
  std::atomic<uint64_t> synced_{0};          // the writer's durable watermark, as last ACKed
  uint64_t sync_every_ = TargetWriter::kSyncEvery;  // the image writer's sync interval
  std::optional<uint64_t> next_offset_;  // where the next placement frame must start
  bool in_repair_ = false;               // between REPAIR and FINISH
  std::vector<ByteRange> repairing_;     // the ranges of this round, in order
  std::vector<ByteRange> repaired_;      // of the last round: what the next VERIFY reads
  bool relay_connection_ = false;        // authenticated with the hop key, not the node's secret
  std::shared_ptr<Forwarder> forwarder_;  // this session is forwarded downstream
  std::thread status_thread_;
  std::mutex status_m_;
  std::condition_variable status_cv_;
  bool status_stop_ = false;
};

}  // namespace agent
