// SocketChannel's deadlines on loopback: a send to a peer that never reads
// (a zero TCP window) gives up after the send timeout instead of blocking
// forever; a slow but steady reader never trips it; recv gives up on a
// silent peer.
#include "protocol/channel.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "protocol/errors.h"

namespace mkproto {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A connected loopback pair with small buffers, so a few frames fill them.
struct Pair {
  int client = -1, server = -1;
  Pair() {
    int lfd = tcp_listen("127.0.0.1:0");
    int small = 8192;
    setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);  // inherited by the accepted socket
    client = tcp_connect(local_address(lfd), 2000ms);
    setsockopt(client, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    server = ::accept(lfd, nullptr, nullptr);
    ::close(lfd);
  }
  ~Pair() {
    if (server >= 0) ::close(server);
  }
};

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

TEST(SocketChannel, SendGivesUpWhenThePeerNeverReads) {
  Pair p;
  SocketChannel ch(p.client);
  ch.set_send_timeout(300ms);
  std::vector<uint8_t> payload(64 << 10, 0x5a);
  const auto t0 = Clock::now();
  int sent = 0;
  try {
    for (; sent < 1000; ++sent) ch.send_raw(FrameType::kData, 0, 0, payload);
    FAIL() << "1000 frames of 64 KiB went into a socket nobody reads";
  } catch (const ConnectionClosed& e) {
    EXPECT_NE(std::string(e.what()).find("took no data for 300 ms"), std::string::npos) << e.what();
  }
  const double s = seconds_since(t0);
  EXPECT_GE(s, 0.29);
  EXPECT_LT(s, 3.0);
  EXPECT_LT(sent, 200);  // it blocked on full buffers, not on something else
}

TEST(SocketChannel, SendTimeoutIsAlsoTheKernelsUserTimeout) {
  Pair p;
  SocketChannel ch(p.client);
  ch.set_send_timeout(4500ms);
  unsigned ms = 0;
  socklen_t len = sizeof ms;
  ASSERT_EQ(getsockopt(ch.fd(), IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, &len), 0);
  EXPECT_EQ(ms, 4500u);
}

// The deadline is for no progress at all: a reader that empties its small
// buffer every 100 ms keeps an 800 ms deadline from firing although the whole
// send takes twice as long. (The margin is 8 reader gaps: a loaded machine
// can stretch a 100 ms sleep several times over.)
TEST(SocketChannel, SlowSteadyReaderDoesNotTripTheSendDeadline) {
  Pair p;
  std::atomic<bool> done{false};
  std::thread reader([&] {
    std::vector<uint8_t> buf(64 << 10);
    while (!done) {
      std::this_thread::sleep_for(100ms);
      while (::recv(p.server, buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
      }
    }
  });
  SocketChannel ch(p.client);
  ch.set_send_timeout(800ms);
  std::vector<uint8_t> payload(8 << 10, 0x33);
  const auto t0 = Clock::now();
  // Bounded by count too, should the reader outpace the small buffers.
  EXPECT_NO_THROW(for (int i = 0; i < 4000 && seconds_since(t0) < 1.6; ++i)
                      ch.send_raw(FrameType::kData, 0, 0, payload));
  EXPECT_GE(seconds_since(t0), 1.6);  // longer than the deadline, in steps
  done = true;
  reader.join();
}

TEST(SocketChannel, RecvGivesUpOnASilentPeer) {
  Pair p;
  SocketChannel ch(p.client, 200ms);
  const auto t0 = Clock::now();
  EXPECT_THROW(ch.recv(), ConnectionClosed);
  const double s = seconds_since(t0);
  EXPECT_GE(s, 0.19);
  EXPECT_LT(s, 2.0);
}

}  // namespace
}  // namespace mkproto
