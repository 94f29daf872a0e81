#include "testing/fault_proxy.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "protocol/channel.h"

namespace mktest {

std::vector<Fault> seeded_faults(uint32_t seed, int drops, int flips, uint64_t grace, uint64_t max_gap) {
  std::mt19937_64 rng(seed);
  auto in = [&](uint64_t lo, uint64_t hi) { return lo + rng() % (std::max(lo, hi) - lo + 1); };
  std::vector<Fault> plan;
  while (drops + flips > 0) {
    if (static_cast<int>(rng() % static_cast<uint64_t>(drops + flips)) < drops) {
      --drops;
      plan.push_back(Fault::drop(in(0, max_gap)));
    } else {
      --flips;
      uint64_t pos = in(grace, max_gap);
      plan.push_back(Fault::flip(pos, static_cast<int>(rng() % 8)));
    }
  }
  return plan;
}

FaultProxy::FaultProxy(std::string upstream, std::vector<Fault> plan)
    : upstream_(std::move(upstream)), plan_(plan.begin(), plan.end()) {
  listen_fd_ = mkproto::tcp_listen("127.0.0.1:0");
  address_ = mkproto::local_address(listen_fd_);
  acceptor_ = std::thread([this] { run(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  acceptor_.join();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

int FaultProxy::applied(Fault::Kind kind) const {
  std::lock_guard lock(m_);
  return static_cast<int>(std::count_if(log_.begin(), log_.end(),
                                        [&](const ConnectionLog& c) { return c.fault && c.fault->kind == kind; }));
}

std::vector<ConnectionLog> FaultProxy::connections() const {
  std::lock_guard lock(m_);
  auto log = log_;
  std::sort(log.begin(), log.end(), [](const auto& a, const auto& b) { return a.index < b.index; });
  return log;
}

std::optional<Fault> FaultProxy::take() {
  std::lock_guard lock(m_);
  if (plan_.empty()) return std::nullopt;
  Fault f = plan_.front();
  plan_.pop_front();
  return f;
}

void FaultProxy::run() {
  for (int index = 0; !stop_;) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int c = ::accept(listen_fd_, nullptr, nullptr);
    if (c < 0) continue;
    threads_.emplace_back([this, c, i = index++] { pipe(c, i); });
  }
}

void FaultProxy::pipe(int client, int index) {
  std::optional<Fault> fault = take();
  ConnectionLog rec;
  rec.index = index;
  bool applied = false;
  int server = -1;
  try {
    server = mkproto::tcp_connect(upstream_, std::chrono::seconds(5));
  } catch (const std::exception&) {
    ::close(client);
  }
  std::vector<char> buf(64 << 10);
  pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
  bool done = server < 0;
  auto last_up = std::chrono::steady_clock::now();
  while (!stop_ && !done) {
    const bool idle = std::chrono::steady_clock::now() - last_up >= std::chrono::milliseconds(100);
    // A planned fault still pending on this connection keeps its place.
    if (!(fault && !applied) && idle && cut_when_idle_ && cut_when_idle_.exchange(false)) {
      fault = Fault::drop(rec.up);
      applied = true;
      ++applied_;
      rec.closed_by = ConnectionLog::kProxy;
      break;
    }
    if (::poll(p, 2, 20) <= 0) continue;
    for (int i = 0; i < 2 && !done; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const bool up = i == 0;
      const bool pending = up && fault && !applied;
      size_t want = buf.size();
      // Read no further than the fault, so that it lands at its offset.
      if (pending) {
        uint64_t end = fault->kind == Fault::kDrop ? fault->pos : fault->pos + 1;
        want = static_cast<size_t>(std::min<uint64_t>(want, end - rec.up));
      }
      ssize_t n = want ? ::recv(p[i].fd, buf.data(), want, 0) : 0;
      if (want && n <= 0) {
        rec.closed_by = up ? ConnectionLog::kClient : ConnectionLog::kServer;
        done = true;  // one side closed: close the other
        break;
      }
      if (pending && fault->kind == Fault::kFlip && rec.up + static_cast<uint64_t>(n) == fault->pos + 1) {
        buf[static_cast<size_t>(n) - 1] ^= static_cast<char>(1 << fault->bit);
        applied = true;
        ++applied_;
      }
      int to = up ? server : client;
      for (ssize_t sent = 0; sent < n;) {
        ssize_t w = ::send(to, buf.data() + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        if (w <= 0) {
          rec.closed_by = up ? ConnectionLog::kServer : ConnectionLog::kClient;
          done = true;
          break;
        }
        sent += w;
      }
      if (up) {
        rec.up += static_cast<uint64_t>(n);
        last_up = std::chrono::steady_clock::now();
      }
      if (pending && fault->kind == Fault::kDrop && rec.up == fault->pos) {
        applied = true;
        ++applied_;
        rec.closed_by = ConnectionLog::kProxy;
        done = true;
      }
    }
  }
  {
    // Before the sockets close, so that the client's next connection finds
    // an unused fault again.
    std::lock_guard lock(m_);
    if (applied) {
      rec.fault = fault;
    } else if (fault) {
      plan_.push_front(*fault);  // for the next connection
    }
    log_.push_back(rec);
  }
  if (server >= 0) {
    // The client sees a reset; the server an orderly end after every byte
    // that got through (a reset would let the kernel discard bytes the
    // server had not read yet — legal, but it makes progress per
    // connection random).
    linger l{1, 0};
    ::setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(client);
    ::close(server);
  }
}

}  // namespace mktest
