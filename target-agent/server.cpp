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

Server::State::State(AgentConfig c)
    : cfg(std::move(c)),
      admission(cfg.max_preauth, cfg.max_authenticated, cfg.handshake_timeout),
      refusals(kRefusalBurst, kRefusalWindow) {}

void Server::State::log_refusal(const std::string& line) {
  std::string out = refusals.admit(line, std::chrono::steady_clock::now());
  if (!out.empty()) fmt::print(stderr, "target-agent: {}\n", out);
}

Server::Server(AgentConfig cfg) : st_(std::make_shared<State>(std::move(cfg))) {
  listen_fd_ = mkproto::tcp_listen(st_->cfg.listen);
  address_ = mkproto::local_address(listen_fd_);
}

Server::~Server() {
  stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void Server::run() {
  State& st = *st_;
  ConnectionContext ctx;
  ctx.admission = &st.admission;
  ctx.revoked = &st.revoked;
  ctx.relay = &st.relay;
  // The context lives in each connection thread, beside its reference to
  // the state: raw pointers to it stay valid as long as the thread runs.
  ctx.log_refusal = [&st](const std::string& l) { st.log_refusal(l); };
  ctx.revoke = [&st] {
    st.revoked = true;
    st.stop = true;
  };
  while (!st.stop) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 100);
    const auto now = std::chrono::steady_clock::now();
    if (size_t cut = st.admission.expire(now))
      st.log_refusal(fmt::format("cut {} connection(s) that did not authenticate within {} ms", cut,
                                 st.cfg.handshake_timeout.count()));
    if (r <= 0) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (!allowed(st.cfg.allow_from, peer)) {
      ::close(fd);
      st.log_refusal(fmt::format("refused a connection from {}: not in --allow-from", peer_text(peer)));
      continue;
    }
    bool evicted = false;
    const uint64_t ticket = st.admission.enter(fd, now, evicted);
    if (evicted) st.log_refusal("cut the oldest unauthenticated connection to make room for a new one");
    {
      std::lock_guard lock(st.m);
      ++st.active;
    }
    std::thread([state = st_, fd, ticket, ctx, who = peer_text(peer)]() mutable {
      ctx.ticket = ticket;
      ctx.peer = who;
      {
        Connection c(state->cfg, state->sessions, fd, ctx);
        c.serve();
        state->admission.leave(ticket);  // before the fd is closed (with c)
      }
      std::lock_guard lock(state->m);
      --state->active;
      state->ended.notify_all();
    }).detach();
  }
  // Every connection's socket is shut down, which ends its recv and send;
  // what is left to wait for is a writer draining to the disk.
  st.admission.shutdown_all();
  {
    std::unique_lock lock(st.m);
    if (!st.ended.wait_for(lock, st.cfg.stop_timeout, [&] { return st.active == 0; })) {
      left_running_ = st.active;
      fmt::print(stderr,
                 "target-agent: {} connection(s) did not end within {} ms of stopping (stuck in the kernel?); "
                 "leaving them running\n",
                 st.active, st.cfg.stop_timeout.count());
    }
  }
  if (st.revoked) {
    // Nobody may even connect now (a queued connection is reset).
    ::close(listen_fd_);
    listen_fd_ = -1;
    sodium_memzero(st.cfg.key.data(), st.cfg.key.size());
  }
}

void Server::start() {
  thread_ = std::thread([this] { run(); });
}

void Server::stop() {
  st_->stop = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace agent
