// The fault proxy itself: flips exactly one bit per faulted connection past
// the grace, drops connections, is deterministic per seed, and is bounded.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <random>
#include <regex>
#include <thread>

#include "testing/child.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

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

struct ProxyRun {
  TempDir dir{"fault-proxy"};
  std::string log_path = dir.file("log");
  Child child;
  int port = 0;
  ProxyRun(int target, const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {python3(), std::string(FAULTS_DIR) + "/fault_proxy.py", "--target",
                                     "127.0.0.1:" + std::to_string(target), "--log", log_path};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child = spawn(argv, log_path + ".stderr");
    port = read_port(child, 10s);
  }
  std::string finish() {
    child.terminate();
    return slurp(log_path);
  }
};

int summary_field(const std::string& log, const std::string& name) {
  std::smatch m;
  std::regex re("\"summary\".*\"" + name + "\": (\\d+)");
  if (!std::regex_search(log, m, re)) return -1;
  return std::stoi(m[1]);
}

std::vector<std::string> fault_positions(const std::string& log) {
  std::vector<std::string> out;
  std::regex re("\"kind\": \"(\\w+)\", \"dir\": \"\\w+\", \"pos\": (\\d+), \"bit\": (\\d)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1].str() + "@" + (*it)[2].str() + "/" + (*it)[3].str());
  return out;
}

TEST(FaultProxy, FlipsOneBitPerFaultedConnectionPastTheGrace) {
  Sink sink;
  ProxyRun proxy(sink.port, {"--seed", "3", "--flips", "5", "--grace", "1000", "--max-gap", "500000"});
  Bytes data = random_bytes(1 << 20, 1);
  for (int i = 0; i < 8; ++i) send_through(proxy.port, data);
  std::string log = proxy.finish();
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
  EXPECT_EQ(summary_field(log, "flips"), 5) << log;
  EXPECT_EQ(summary_field(log, "drops"), 0) << log;
}

TEST(FaultProxy, DropsCutConnectionsShort) {
  Sink sink;
  ProxyRun proxy(sink.port, {"--seed", "4", "--drops", "3", "--max-gap", "600000"});
  Bytes data = random_bytes(1 << 20, 2);
  for (int i = 0; i < 6; ++i) send_through(proxy.port, data);
  std::string log = proxy.finish();
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
  EXPECT_EQ(summary_field(log, "drops"), 3) << log;
}

TEST(FaultProxy, SameSeedSameFaults) {
  Bytes data = random_bytes(1 << 20, 3);
  auto run = [&](const std::string& seed) {
    Sink sink;
    ProxyRun proxy(sink.port, {"--seed", seed, "--drops", "2", "--flips", "2", "--max-gap", "300000"});
    for (int i = 0; i < 5; ++i) send_through(proxy.port, data);
    return fault_positions(proxy.finish());
  };
  auto a = run("11"), b = run("11"), c = run("12");
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(FaultProxy, BoundedInTime) {
  Sink sink;
  ProxyRun proxy(sink.port, {"--max-runtime", "1"});
  auto rc = proxy.child.wait(10s);
  ASSERT_TRUE(rc.has_value()) << "the proxy must exit on its own";
  EXPECT_EQ(*rc, 0);
  EXPECT_EQ(summary_field(slurp(proxy.log_path), "connections"), 0);
}

}  // namespace
}  // namespace mktest
