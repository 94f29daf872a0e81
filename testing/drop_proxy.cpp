#include "testing/drop_proxy.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

#include "protocol/channel.h"

namespace mktest {

DropProxy::DropProxy(std::string upstream, std::vector<uint64_t> cuts, bool flip)
    : upstream_(std::move(upstream)), cuts_(std::move(cuts)), flip_(flip) {
  listen_fd_ = mkproto::tcp_listen("127.0.0.1:0");
  address_ = mkproto::local_address(listen_fd_);
  acceptor_ = std::thread([this] { run(); });
}

DropProxy::~DropProxy() {
  stop_ = true;
  acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

void DropProxy::run() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int c = ::accept(listen_fd_, nullptr, nullptr);
    if (c < 0) continue;
    threads_.emplace_back([this, c] { pipe(c); });
  }
}

void DropProxy::pipe(int client) {
  uint64_t cut = UINT64_MAX;
  {
    std::lock_guard lock(m_);
    if (next_cut_ < cuts_.size()) cut = cuts_[next_cut_++];
  }
  int server = -1;
  try {
    server = mkproto::tcp_connect(upstream_, std::chrono::seconds(5));
  } catch (const std::exception&) {
    ::close(client);
    return;
  }
  uint64_t up = 0;
  std::vector<char> buf(64 << 10);
  pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  bool cutting = false;
  while (!stop_ && !cutting) {
    if (::poll(p, 2, 100) <= 0) continue;
    for (int i = 0; i < 2 && !cutting; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      size_t want = buf.size();
      if (i == 0 && cut != UINT64_MAX) want = static_cast<size_t>(std::min<uint64_t>(want, cut - up));
      ssize_t n = want ? ::recv(p[i].fd, buf.data(), want, 0) : 0;
      if (n <= 0 && want) {
        cutting = true;  // one side closed: close the other
        break;
      }
      if (i == 0) up += static_cast<uint64_t>(n);
      if (i == 0 && flip_ && up >= cut) {
        buf[static_cast<size_t>(n) - 1] ^= 0x08;  // the byte at `cut`
        ++drops_;
        cut = UINT64_MAX;  // once per connection; keep forwarding
      }
      int to = i == 0 ? server : client;
      for (ssize_t done = 0; done < n;) {
        ssize_t w = ::send(to, buf.data() + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
        if (w <= 0) {
          cutting = true;
          break;
        }
        done += w;
      }
      if (i == 0 && up >= cut) {
        ++drops_;
        cutting = true;
      }
    }
  }
  // The host sees a reset; the agent an orderly end after every byte that
  // got through (a reset would let the kernel discard bytes the agent had
  // not read yet — legal, but it makes progress per connection random).
  linger l{1, 0};
  ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(client);
  ::close(server);
}

}  // namespace mktest
