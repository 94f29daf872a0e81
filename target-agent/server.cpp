#include "target-agent/server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "protocol/channel.h"
#include "target-agent/connection.h"

namespace agent {

Server::Server(AgentConfig cfg) : cfg_(std::move(cfg)) {
  listen_fd_ = mkproto::tcp_listen(cfg_.listen);
  address_ = mkproto::local_address(listen_fd_);
}

Server::~Server() {
  stop();
  ::close(listen_fd_);
}

void Server::run() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 200);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (active_ >= 8) {
      // Bounded: every connection may hold a writer's buffers.
      ::close(fd);
      continue;
    }
    ++active_;
    {
      std::lock_guard lock(fds_mutex_);
      fds_.insert(fd);
    }
    std::thread([this, fd] {
      {
        Connection c(cfg_, sessions_, fd);
        c.serve();
        std::lock_guard lock(fds_mutex_);
        fds_.erase(fd);
      }
      --active_;
    }).detach();
  }
  {
    std::lock_guard lock(fds_mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  // Let connection threads finish before the Server (and sessions_) go.
  while (active_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void Server::start() {
  thread_ = std::thread([this] { run(); });
}

void Server::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace agent
