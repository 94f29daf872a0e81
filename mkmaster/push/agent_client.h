#pragma once
// Host side of one connection to target-agent: resolve, connect,
// authenticate; receive helpers that consume interleaved ACKs.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "protocol/auth.h"
#include "protocol/channel.h"
#include "protocol/handshake.h"

namespace push {

struct AgentAddress {
  std::string agent;  // HOST:PORT (a name is resolved here, on the host)
  mkproto::Key key{};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds io_timeout{120000};
};

// Loads the key from a secret file with a clear message.
mkproto::Key load_secret(const std::string& secret_file);

class AgentClient {
 public:
  // Connects and authenticates; throws ConnectionClosed / ProtocolError.
  explicit AgentClient(const AgentAddress& addr);
  mkproto::SocketChannel& channel() { return *ch_; }
  const std::string& agent_name() const { return agent_name_; }
  // Next frame that is not an ACK (ACKs go to on_ack). An ERROR frame is
  // thrown as ProtocolError.
  mkproto::Frame recv(const std::function<void(uint64_t)>& on_ack = {});
  // Drains frames that have already arrived without blocking (ACKs, an
  // ERROR: thrown). Used while streaming.
  void poll(const std::function<void(uint64_t)>& on_ack);
  void bye() noexcept;

 private:
  std::unique_ptr<mkproto::SocketChannel> ch_;
  std::string agent_name_;
};

// "host:port" → "ip:port" (numeric) via getaddrinfo.
std::string resolve(const std::string& host_port);

}  // namespace push
