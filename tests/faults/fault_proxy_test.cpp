// The fault proxy itself: flips exactly one bit per faulted connection past
// the grace, drops connections, is deterministic per seed, and stops
// promptly.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <thread>

#include "testing/fault_proxy.h"
#include "testing/files.h"

namespace mktest {
namespace {

using namespace std::chrono_literals;

// Accepts connections one after the other and keeps what each one sent.
struct Sink {
  int fd = -1;
  int port = 0;
  std::thread th;
  std::mutex m;
  std::vector<Bytes> got;
  std::atomic<bool> stop{false};

  Sink() {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 16) != 0)
      throw std::runtime_error("sink: bind/listen failed");
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    th = std::thread([this] {
      while (!stop) {
        int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        Bytes buf;
        uint8_t tmp[65536];
        ssize_t n;
        while ((n = read(c, tmp, sizeof tmp)) > 0) buf.insert(buf.end(), tmp, tmp + n);
        close(c);
        std::lock_guard lk(m);
        got.push_back(std::move(buf));
      }
    });
  }
  // The proxy may end a connection towards its client before the sink has
  // read it all: wait until `n` connections have arrived.
  void wait_for(size_t n) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lk(m);
        if (got.size() >= n) return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~Sink() {
    stop = true;
    shutdown(fd, SHUT_RDWR);
    close(fd);
    th.join();
  }
};

// Sends `data` through the proxy, half-closes, waits for the far end.
void send_through(int port, const Bytes& data) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect to proxy");
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = send(s, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;  // dropped
    off += static_cast<size_t>(n);
  }
  shutdown(s, SHUT_WR);
  char tmp[256];
  while (read(s, tmp, sizeof tmp) > 0) {
  }
  close(s);
}

std::string to(const Sink& sink) { return "127.0.0.1:" + std::to_string(sink.port); }
int port_of(const FaultProxy& p) { return std::stoi(p.address().substr(p.address().rfind(':') + 1)); }

TEST(FaultProxy, FlipsOneBitPerFaultedConnectionPastTheGrace) {
  Sink sink;
  FaultProxy proxy(to(sink), seeded_faults(3, 0, 5, 1000, 500000));
  Bytes data = random_bytes(1 << 20, 1);
  for (int i = 0; i < 8; ++i) send_through(port_of(proxy), data);
  sink.wait_for(8);
  std::lock_guard lk(sink.m);
  ASSERT_EQ(sink.got.size(), 8u);
  int flipped = 0;
  for (size_t c = 0; c < sink.got.size(); ++c) {
    const Bytes& g = sink.got[c];
    ASSERT_EQ(g.size(), data.size()) << "a flip never shortens the stream";
    int bits = 0;
    size_t where = 0;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i] != data[i]) {
        bits += __builtin_popcount(g[i] ^ data[i]);
        where = i;
      }
    }
    if (bits) {
      ++flipped;
      EXPECT_EQ(bits, 1) << "connection " << c;
      EXPECT_GE(where, 1000u);
      EXPECT_LE(where, 500000u);
    }
  }
  EXPECT_EQ(flipped, 5);
  EXPECT_EQ(proxy.applied(Fault::kFlip), 5);
  EXPECT_EQ(proxy.applied(Fault::kDrop), 0);
}

TEST(FaultProxy, DropsCutConnectionsShort) {
  Sink sink;
  FaultProxy proxy(to(sink), seeded_faults(4, 3, 0, 4096, 600000));
  Bytes data = random_bytes(1 << 20, 2);
  for (int i = 0; i < 6; ++i) send_through(port_of(proxy), data);
  sink.wait_for(6);
  std::lock_guard lk(sink.m);
  ASSERT_EQ(sink.got.size(), 6u);
  int cut = 0;
  for (const Bytes& g : sink.got) {
    ASSERT_LE(g.size(), data.size());
    EXPECT_TRUE(std::equal(g.begin(), g.end(), data.begin())) << "a drop forwards an intact prefix";
    if (g.size() < data.size()) {
      ++cut;
      EXPECT_LE(g.size(), 600000u);
    }
  }
  EXPECT_EQ(cut, 3);
  EXPECT_EQ(proxy.applied(Fault::kDrop), 3);
}

TEST(FaultProxy, SameSeedSameFaults) {
  Bytes data = random_bytes(1 << 20, 3);
  auto run = [&](uint32_t seed) {
    Sink sink;
    FaultProxy proxy(to(sink), seeded_faults(seed, 2, 2, 4096, 300000));
    for (int i = 0; i < 5; ++i) send_through(port_of(proxy), data);
    sink.wait_for(5);
    std::vector<Fault> applied;
    for (const auto& c : proxy.connections())
      if (c.fault) applied.push_back(*c.fault);
    return applied;
  };
  auto a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

// A test that fails half-way must not hang in the proxy.
TEST(FaultProxy, StopsWithAConnectionOpen) {
  Sink sink;
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  std::chrono::steady_clock::time_point t0;
  {
    FaultProxy proxy(to(sink), {});
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_of(proxy)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::this_thread::sleep_for(200ms);  // the proxy has accepted it
    t0 = std::chrono::steady_clock::now();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  close(s);
}

}  // namespace
}  // namespace mktest
