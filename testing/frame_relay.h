#pragma once
// A TCP relay on 127.0.0.1 that knows the frame layout (docs/protocol.md,
// "Frames") but not the keys: what an attacker on the lab network can do.
// It cuts both byte streams into whole frames and hands each to a hook that
// decides what goes on in its place: the frame itself, nothing (dropped),
// several frames (replayed, reordered, forged). ERROR frames the agent sends
// are recorded (their payload is not encrypted), so a test can tell which
// frame was refused and why.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "protocol/errors.h"
#include "protocol/frame.h"

namespace mktest {

struct RelayFrame {
  int connection = 0;     // in the order of accepting, from 0
  bool to_agent = true;   // host→agent, else agent→host
  uint64_t index = 0;     // frames seen in this direction on this connection
  mkproto::FrameType type{};
  std::vector<uint8_t> bytes;  // header, payload and (after the handshake) tag
  std::vector<uint8_t> last_from_agent;  // the agent's latest authenticated frame (for reflection)
};

// Bytes to send on in the frame's direction, in order.
using RelayHook = std::function<std::vector<std::vector<uint8_t>>(const RelayFrame&)>;

class FrameRelay {
 public:
  FrameRelay(std::string upstream, RelayHook hook);
  ~FrameRelay();  // returns promptly, even with connections open
  FrameRelay(const FrameRelay&) = delete;
  FrameRelay& operator=(const FrameRelay&) = delete;

  std::string address() const { return address_; }
  // Error codes of the ERROR frames the agent sent on `connection`.
  std::vector<mkproto::ErrorCode> agent_errors(int connection) const;
  int connections() const { return accepted_; }

 private:
  void run();
  void pipe(int client, int index);
  std::string upstream_, address_;
  RelayHook hook_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  mutable std::mutex m_;
  std::vector<std::vector<mkproto::ErrorCode>> errors_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A frame a relay can make without the keys: the right header (seq, type,
// offset), the XXH3 check recomputed as for a v1 frame, and `tag` appended
// (copied from a real frame: the most plausible guess there is).
std::vector<uint8_t> forge_frame(mkproto::FrameType type, uint32_t seq, uint64_t offset,
                                 const std::vector<uint8_t>& payload, std::span<const uint8_t> tag);

}  // namespace mktest
