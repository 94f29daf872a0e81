#include "testing/frame_relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/channel.h"
#include "protocol/wire.h"

namespace mktest {

using mkproto::kHeaderSize;
using mkproto::kTagSize;

FrameRelay::FrameRelay(std::string upstream, RelayHook hook) : upstream_(std::move(upstream)), hook_(std::move(hook)) {
  listen_fd_ = mkproto::tcp_listen("127.0.0.1:0");
  address_ = mkproto::local_address(listen_fd_);
  acceptor_ = std::thread([this] { run(); });
}

FrameRelay::~FrameRelay() {
  stop_ = true;
  acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

std::vector<mkproto::ErrorCode> FrameRelay::agent_errors(int connection) const {
  std::lock_guard lock(m_);
  if (connection < 0 || static_cast<size_t>(connection) >= errors_.size()) return {};
  return errors_[static_cast<size_t>(connection)];
}

void FrameRelay::run() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int c = ::accept(listen_fd_, nullptr, nullptr);
    if (c < 0) continue;
    int index = accepted_++;
    {
      std::lock_guard lock(m_);
      errors_.resize(static_cast<size_t>(index) + 1);
    }
    threads_.emplace_back([this, c, index] { pipe(c, index); });
  }
}

namespace {
bool send_all(int fd, const std::vector<uint8_t>& b) {
  for (size_t sent = 0; sent < b.size();) {
    ssize_t w = ::send(fd, b.data() + sent, b.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) return false;
    sent += static_cast<size_t>(w);
  }
  return true;
}
}  // namespace

void FrameRelay::pipe(int client, int index) {
  int server = -1;
  try {
    server = mkproto::tcp_connect(upstream_, std::chrono::seconds(5));
  } catch (const std::exception&) {
    ::close(client);
    return;
  }
  struct Dir {
    std::vector<uint8_t> buf;
    uint64_t frames = 0;
  } dirs[2];  // 0: host→agent, 1: agent→host
  std::vector<uint8_t> last_from_agent;
  std::vector<uint8_t> chunk(64 << 10);
  pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  bool done = false;
  while (!stop_ && !done) {
    if (::poll(p, 2, 100) <= 0) continue;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::recv(p[i].fd, chunk.data(), chunk.size(), 0);
      if (n <= 0) {
        done = true;
        break;
      }
      Dir& d = dirs[i];
      d.buf.insert(d.buf.end(), chunk.begin(), chunk.begin() + n);
      // Whole frames only. The first two frames of each direction are the
      // handshake's (no tag); every later one has a tag.
      for (;;) {
        if (d.buf.size() < kHeaderSize) break;
        size_t len = static_cast<size_t>(mkproto::get_le(d.buf.data() + 8, 4));
        size_t total = kHeaderSize + len + (d.frames >= 2 ? kTagSize : 0);
        if (d.buf.size() < total) break;
        RelayFrame f;
        f.connection = index;
        f.to_agent = i == 0;
        f.index = d.frames++;
        f.type = static_cast<mkproto::FrameType>(d.buf[5]);
        f.bytes.assign(d.buf.begin(), d.buf.begin() + static_cast<std::ptrdiff_t>(total));
        d.buf.erase(d.buf.begin(), d.buf.begin() + static_cast<std::ptrdiff_t>(total));
        if (!f.to_agent && f.type == mkproto::FrameType::kError && len >= 2) {
          std::lock_guard lock(m_);
          errors_[static_cast<size_t>(index)].push_back(
              static_cast<mkproto::ErrorCode>(mkproto::get_le(f.bytes.data() + kHeaderSize, 2)));
        }
        if (!f.to_agent && f.index >= 2) last_from_agent = f.bytes;
        f.last_from_agent = last_from_agent;
        for (auto& out : hook_(f))
          if (!send_all(f.to_agent ? server : client, out)) done = true;
      }
    }
  }
  ::close(client);
  ::close(server);
}

std::vector<uint8_t> forge_frame(mkproto::FrameType type, uint32_t seq, uint64_t offset,
                                 const std::vector<uint8_t>& payload, std::span<const uint8_t> tag) {
  mkproto::Frame f;
  f.type = type;
  f.seq = seq;
  f.offset = offset;
  f.payload = payload;
  auto bytes = mkproto::encode_frame(f);
  bytes.insert(bytes.end(), tag.begin(), tag.end());
  return bytes;
}

}  // namespace mktest
