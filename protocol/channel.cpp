#include "protocol/channel.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

namespace mkproto {

SocketChannel::SocketChannel(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout), rbuf_(256 << 10) {
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  // A dead peer (pulled cable, rebooted node) is noticed in ~20 s instead of
  // hours, so a session can be handed to the reconnecting host.
  int idle = 10, intvl = 5, cnt = 2;
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd_, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  // Writes to a closed peer must be an error, not SIGPIPE (send MSG_NOSIGNAL).
}

SocketChannel::~SocketChannel() { ::close(fd_); }

void SocketChannel::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

void SocketChannel::close_after_last_frame(std::chrono::milliseconds limit) {
  ::shutdown(fd_, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::vector<uint8_t> sink(64 * 1024);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return;
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
    ssize_t n = ::recv(fd_, sink.data(), sink.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the peer closed (or reset): done
  }
}

void SocketChannel::set_send_timeout(std::chrono::milliseconds timeout) {
  std::lock_guard lock(send_mutex_);
  send_timeout_ = timeout;
  unsigned ms = static_cast<unsigned>(timeout.count());
  setsockopt(fd_, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof ms);
}

// Waits until the socket takes more bytes; false when the send deadline
// passed first. The fd stays blocking for the reader thread: sends use
// MSG_DONTWAIT and wait here instead.
bool SocketChannel::wait_writable() {
  const auto deadline = std::chrono::steady_clock::now() + send_timeout_;
  for (;;) {
    int wait_ms = -1;
    if (send_timeout_.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      wait_ms = static_cast<int>(left.count()) + 1;
    }
    pollfd p{fd_, POLLOUT, 0};
    int r = ::poll(&p, 1, wait_ms);
    if (r > 0) return true;  // writable, or an error the next send reports
    if (r < 0 && errno != EINTR) throw ConnectionClosed(fmt::format("poll: {}", std::strerror(errno)));
  }
}

namespace {
const FrameMacKey& send_key(const SessionKeys& k, Channel::Role self) {
  return self == Channel::Role::kHost ? k.host_to_agent : k.agent_to_host;
}
const FrameMacKey& recv_key(const SessionKeys& k, Channel::Role self) {
  return self == Channel::Role::kHost ? k.agent_to_host : k.host_to_agent;
}
}  // namespace

void SocketChannel::set_session_keys(const SessionKeys& keys, Role self) {
  std::lock_guard lock(send_mutex_);
  encoder_.set_mac_key(send_key(keys, self));
  decoder_.set_mac_key(recv_key(keys, self));
}

std::vector<uint8_t> SocketChannel::encode_next(const Frame& f) {
  std::lock_guard lock(send_mutex_);
  return encoder_.encode(f.type, f.flags, f.offset, f.payload);
}

void SocketChannel::send_raw(FrameType type, uint16_t flags, uint64_t offset, std::span<const uint8_t> payload) {
  std::lock_guard lock(send_mutex_);
  auto wire = encoder_.encode(type, flags, offset, payload);
  iovec iov[2] = {{wire.data(), wire.size()}, {nullptr, 0}};
  size_t total = wire.size(), done = 0;
  int idx = 0;
  while (done < total) {
    msghdr msg{};
    msg.msg_iov = iov + idx;
    msg.msg_iovlen = static_cast<size_t>(2 - idx);
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_writable())
          throw ConnectionClosed(fmt::format("send: the peer took no data for {} ms ({} of {} bytes of the frame sent)",
                                             send_timeout_.count(), done, total));
        continue;
      }
      throw ConnectionClosed(fmt::format("send: {}", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
    size_t left = static_cast<size_t>(n);
    while (idx < 2 && left >= iov[idx].iov_len) {
      left -= iov[idx].iov_len;
      iov[idx].iov_len = 0;
      ++idx;
    }
    if (idx < 2) {
      iov[idx].iov_base = static_cast<uint8_t*>(iov[idx].iov_base) + left;
      iov[idx].iov_len -= left;
    }
  }
  bytes_sent_ += total;
}

Frame SocketChannel::recv() {
  for (;;) {
    if (auto f = decoder_.next()) return std::move(*f);
    if (timeout_.count() > 0) {
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(timeout_.count()));
      if (r == 0) throw ConnectionClosed(fmt::format("no data from the peer for {} ms", timeout_.count()));
      if (r < 0 && errno != EINTR) throw ConnectionClosed(fmt::format("poll: {}", std::strerror(errno)));
    }
    size_t want = decoder_.wanted();
    (void)want;
    ssize_t n = ::recv(fd_, rbuf_.data(), rbuf_.size(), 0);
    if (n == 0) throw ConnectionClosed("connection closed by the peer");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw ConnectionClosed(fmt::format("recv: {}", std::strerror(errno)));
    }
    decoder_.feed({rbuf_.data(), static_cast<size_t>(n)});
  }
}

void MemoryChannel::send_raw(FrameType type, uint16_t flags, uint64_t offset, std::span<const uint8_t> payload) {
  std::lock_guard lock(send_mutex_);
  auto wire = encoder_.encode(type, flags, offset, payload);
  sent.insert(sent.end(), wire.begin(), wire.end());
}

void MemoryChannel::set_session_keys(const SessionKeys& keys, Role self) {
  std::lock_guard lock(send_mutex_);
  encoder_.set_mac_key(send_key(keys, self));
  decoder_.set_mac_key(recv_key(keys, self));
}

Frame MemoryChannel::recv() {
  if (auto f = decoder_.next()) return std::move(*f);
  throw ConnectionClosed("end of input");
}

namespace {
struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
};
Addr parse_addr(const std::string& ap) {
  size_t colon = ap.rfind(':');
  if (colon == std::string::npos || colon + 1 == ap.size())
    throw std::runtime_error(fmt::format("address '{}': expected ADDR:PORT", ap));
  std::string host = ap.substr(0, colon), port_s = ap.substr(colon + 1);
  char* end = nullptr;
  unsigned long port = std::strtoul(port_s.c_str(), &end, 10);
  if (*end || port > 65535) throw std::runtime_error(fmt::format("address '{}': bad port '{}'", ap, port_s));
  Addr a;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &s6->sin6_addr) != 1)
      throw std::runtime_error(fmt::format("address '{}': '{}' is not a numeric IPv6 address", ap, host));
    a.len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&a.ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<uint16_t>(port));
    if (host.empty()) host = "0.0.0.0";
    if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) != 1)
      throw std::runtime_error(
          fmt::format("address '{}': '{}' is not a numeric IPv4 address (names are not resolved)", ap, host));
    a.len = sizeof *s4;
  }
  return a;
}
}  // namespace

int tcp_connect(const std::string& ap, std::chrono::milliseconds timeout) {
  Addr a = parse_addr(ap);
  int fd = ::socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) throw ConnectionClosed(fmt::format("socket: {}", std::strerror(errno)));
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a.ss), a.len);
  if (r < 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r == 0) {
      ::close(fd);
      throw ConnectionClosed(fmt::format("connect to {}: timed out after {} ms", ap, timeout.count()));
    }
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) {
      ::close(fd);
      throw ConnectionClosed(fmt::format("connect to {}: {}", ap, std::strerror(err)));
    }
  } else if (r < 0) {
    int e = errno;
    ::close(fd);
    throw ConnectionClosed(fmt::format("connect to {}: {}", ap, std::strerror(e)));
  }
  int fl = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  return fd;
}

int tcp_listen(const std::string& ap) {
  Addr a = parse_addr(ap);
  int fd = ::socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  // A backlog of 64: a flood of connect/close cycles must not overflow the
  // accept queue (a dropped SYN costs the real host a 1 s retransmit).
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a.ss), a.len) < 0 || ::listen(fd, 64) < 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(fmt::format("listen on {}: {}", ap, std::strerror(e)));
  }
  return fd;
}

std::string local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
    return fmt::format("[{}]:{}", buf, ntohs(s6->sin6_port));
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
  inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof buf);
  return fmt::format("{}:{}", buf, ntohs(s4->sin_port));
}

}  // namespace mkproto
