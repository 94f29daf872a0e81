#include "mkmaster/push/agent_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <fmt/core.h>

#include "protocol/messages.h"
#include "protocol/version.h"

namespace push {

mkproto::Key load_secret(const std::string& secret_file) {
  if (secret_file.empty()) throw std::runtime_error("no --secret-file given: the agent's session secret is required");
  return mkproto::load_key(secret_file);
}

std::string resolve(const std::string& hp) {
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error(fmt::format("agent address '{}': expected HOST:PORT", hp));
  std::string host = hp.substr(0, colon), port = hp.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[') return hp;  // numeric IPv6
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error(fmt::format("agent address '{}': {}", hp, gai_strerror(rc)));
  char buf[NI_MAXHOST];
  std::string out;
  if (::getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0)
    out = res->ai_family == AF_INET6 ? fmt::format("[{}]:{}", buf, port) : fmt::format("{}:{}", buf, port);
  ::freeaddrinfo(res);
  if (out.empty()) throw std::runtime_error(fmt::format("agent address '{}': cannot resolve", hp));
  return out;
}

AgentClient::AgentClient(const AgentAddress& addr) {
  int fd = mkproto::tcp_connect(resolve(addr.agent), addr.connect_timeout);
  ch_ = std::make_unique<mkproto::SocketChannel>(fd, addr.io_timeout);
  agent_name_ = mkproto::client_handshake(*ch_, addr.key, fmt::format("mkmaster {}", mkproto::kProjectVersion)).peer;
}

mkproto::Frame AgentClient::recv(const std::function<void(uint64_t)>& on_ack) {
  for (;;) {
    mkproto::Frame f = ch_->recv();
    if (f.type == mkproto::FrameType::kAck) {
      uint64_t d = mkproto::decode_ack(f).durable;
      if (on_ack) on_ack(d);
      continue;
    }
    if (f.type == mkproto::FrameType::kError) mkproto::throw_remote_error(f);
    return f;
  }
}

void AgentClient::poll(const std::function<void(uint64_t)>& on_ack) {
  for (;;) {
    pollfd p{ch_->fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return;
    // Something arrived (an ACK or an ERROR; the agent sends nothing else
    // while we stream). recv() blocks for at most the rest of that frame.
    mkproto::Frame f = ch_->recv();
    if (f.type == mkproto::FrameType::kAck) {
      if (on_ack) on_ack(mkproto::decode_ack(f).durable);
    } else if (f.type == mkproto::FrameType::kError) {
      mkproto::throw_remote_error(f);
    } else {
      throw mkproto::ProtocolError(mkproto::ErrorCode::kUnexpected,
                                   fmt::format("agent sent {} while the image was streaming", type_name(f.type)));
    }
  }
}

void AgentClient::bye() noexcept {
  try {
    ch_->send(mkproto::encode_empty(mkproto::FrameType::kBye));
    // Wait for the agent to close: it has then released the session, so a
    // following push to the same target is not refused as busy.
    for (int i = 0; i < 100; ++i) ch_->recv();
  } catch (const std::exception&) {
  }
}

}  // namespace push
