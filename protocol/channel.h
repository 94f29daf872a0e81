#pragma once
// A bidirectional frame stream. Both ends use the same implementation over a
// TCP socket (SocketChannel); tests and the fuzzer use MemoryChannel.
// send() numbers frames (seq) per direction through FrameEncoder; recv()
// validates through FrameDecoder; after set_session_keys() both tag/check
// every frame (protocol v2). send() is thread-safe (the agent's writer thread sends ACKs
// while the receiver reads).
#include <chrono>
#include <deque>
#include <mutex>
#include <span>

#include "protocol/frame.h"

namespace mkproto {

class Channel {
 public:
  virtual ~Channel() = default;
  // Sends f with the next sequence number (f.seq is ignored).
  void send(const Frame& f) { send_raw(f.type, f.flags, f.offset, f.payload); }
  virtual void send_raw(FrameType type, uint16_t flags, uint64_t offset, std::span<const uint8_t> payload) = 0;
  // Next frame; throws ConnectionClosed on EOF/reset/timeout and
  // ProtocolError on a malformed frame.
  virtual Frame recv() = 0;
  virtual void set_max_payload(uint32_t m) = 0;
  // Ends the connection from another thread (a stuck sender gives up on it).
  virtual void shutdown() {}
  // Authenticates every frame from the next one on, in both directions (the
  // handshake calls it once both sides know the keys).
  enum class Role { kHost, kAgent };
  virtual void set_session_keys(const SessionKeys& keys, Role self) = 0;
};

class SocketChannel : public Channel {
 public:
  // Takes ownership of fd. timeout: longest wait for the peer's next bytes
  // (zero: forever).
  explicit SocketChannel(int fd, std::chrono::milliseconds timeout = std::chrono::milliseconds{0});
  ~SocketChannel() override;
  SocketChannel(const SocketChannel&) = delete;
  SocketChannel& operator=(const SocketChannel&) = delete;
  void send_raw(FrameType type, uint16_t flags, uint64_t offset, std::span<const uint8_t> payload) override;
  Frame recv() override;
  void set_max_payload(uint32_t m) override { decoder_.set_max_payload(m); }
  void set_session_keys(const SessionKeys& keys, Role self) override;
  // Longest wait in recv() from now on (zero: forever). Not while a recv()
  // is running.
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // Longest a send() waits for the peer to take any bytes (a zero TCP
  // window, a stopped or black-holed peer), zero: forever. Also sets
  // TCP_USER_TIMEOUT to it, so the kernel gives up on unacknowledged data in
  // the same time. Then send() throws ConnectionClosed.
  void set_send_timeout(std::chrono::milliseconds timeout);
  int fd() const { return fd_; }
  // Unblocks a recv() in another thread (used to hand a session over).
  void shutdown() override;
  // After a last frame (an ERROR): ends our direction and discards what the
  // peer still sends until it closes too, at most `limit`. Closing with
  // unread input would reset the connection, and a reset can discard the
  // last frame before the peer has read it.
  void close_after_last_frame(std::chrono::milliseconds limit);
  uint64_t bytes_sent() const { return bytes_sent_; }
  // Sequence number of the next frame send() will emit (tests craft raw frames).
  uint32_t next_seq() const { return encoder_.next_seq(); }
  // The next frame's bytes as send() would emit them, numbered and tagged,
  // without sending them (tests corrupt them first).
  std::vector<uint8_t> encode_next(const Frame& f);

 private:
  bool wait_writable();
  int fd_;
  std::chrono::milliseconds timeout_;
  std::chrono::milliseconds send_timeout_{0};  // guarded by send_mutex_
  std::mutex send_mutex_;
  FrameEncoder encoder_;
  FrameDecoder decoder_;
  std::vector<uint8_t> rbuf_;
  uint64_t bytes_sent_ = 0;
};

// In-memory: recv() decodes the bytes given to feed(); send() appends the
// encoded frames to `sent` (for tests and the fuzzers). send() is
// thread-safe like a socket's (the agent's writer and hasher threads send);
// read `sent` only once no thread sends any more.
class MemoryChannel : public Channel {
 public:
  explicit MemoryChannel(uint32_t max_payload = kMaxPayload) : decoder_(max_payload) {}
  void feed(std::span<const uint8_t> bytes) { decoder_.feed(bytes); }
  void send_raw(FrameType type, uint16_t flags, uint64_t offset, std::span<const uint8_t> payload) override;
  Frame recv() override;
  void set_max_payload(uint32_t m) override { decoder_.set_max_payload(m); }
  void set_session_keys(const SessionKeys& keys, Role self) override;
  std::vector<uint8_t> sent;

 private:
  FrameDecoder decoder_;
  std::mutex send_mutex_;  // guards encoder_ and sent
  FrameEncoder encoder_;
};

// Connects to a numeric "ADDR:PORT" ("[v6]:PORT" for IPv6). Throws
// ConnectionClosed with the address on failure.
int tcp_connect(const std::string& addr_port, std::chrono::milliseconds timeout);
// Listens on a numeric "ADDR:PORT" (port 0: any); returns the fd.
int tcp_listen(const std::string& addr_port);
// "ADDR:PORT" a listening socket is bound to.
std::string local_address(int fd);

}  // namespace mkproto
