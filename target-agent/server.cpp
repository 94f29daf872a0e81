#include "target-agent/server.h"

#include <poll.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "protocol/channel.h"

namespace agent {

namespace {
// Refusal lines on the node's console/log: at most 10 per 10 s.
constexpr size_t kRefusalBurst = 10;
constexpr std::chrono::seconds kRefusalWindow{10};
}  // namespace

Server::Server(AgentConfig cfg)
    : cfg_(std::move(cfg)),
      admission_(cfg_.max_preauth, cfg_.max_authenticated, cfg_.handshake_timeout),
      refusals_(kRefusalBurst, kRefusalWindow) {
  listen_fd_ = mkproto::tcp_listen(cfg_.listen);
  address_ = mkproto::local_address(listen_fd_);
}

Server::~Server() {
  stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void Server::log_refusal(const std::string& line) {
  std::string out = refusals_.admit(line, std::chrono::steady_clock::now());
  if (!out.empty()) fmt::print(stderr, "target-agent: {}\n", out);
}

void Server::run() {
  ConnectionContext ctx;
  ctx.admission = &admission_;
  ctx.revoked = &revoked_;
  ctx.relay = &relay_;
  ctx.log_refusal = [this](const std::string& l) { log_refusal(l); };
  ctx.revoke = [this] {
    revoked_ = true;
    stop_ = true;
  };
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    const auto now = std::chrono::steady_clock::now();
    if (size_t cut = admission_.expire(now))
      log_refusal(fmt::format("cut {} connection(s) that did not authenticate within {} ms", cut,
                              cfg_.handshake_timeout.count()));
    if (r <= 0) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (!allowed(cfg_.allow_from, peer)) {
      ::close(fd);
      log_refusal(fmt::format("refused a connection from {}: not in --allow-from", peer_text(peer)));
      continue;
    }
    bool evicted = false;
    const uint64_t ticket = admission_.enter(fd, now, evicted);
    if (evicted) log_refusal("cut the oldest unauthenticated connection to make room for a new one");
    ++active_;
    std::thread([this, fd, ticket, ctx, who = peer_text(peer)]() mutable {
      ctx.ticket = ticket;
      ctx.peer = who;
      {
        Connection c(cfg_, sessions_, fd, ctx);
        c.serve();
        admission_.leave(ticket);  // before the fd is closed (with c)
      }
      --active_;
    }).detach();
  }
  admission_.shutdown_all();
  // Let connection threads finish before the Server (and sessions_) go.
  while (active_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (revoked_) {
    // Nobody may even connect now (a queued connection is reset).
    ::close(listen_fd_);
    listen_fd_ = -1;
    sodium_memzero(cfg_.key.data(), cfg_.key.size());
  }
}

void Server::start() {
  thread_ = std::thread([this] { run(); });
}

void Server::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace agent
