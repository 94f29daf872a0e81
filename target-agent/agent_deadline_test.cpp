// The agent's own deadlines: a peer that never authenticates, an
// authenticated host that goes silent, and a host that stops reading what
// the agent sends each lose their connection in a bounded time instead of
// holding one of the agent's few connection slots (and a session) forever.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "testing/agent_fixture.h"

using namespace mkproto;
using namespace mktest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class AgentDeadline : public AgentTest {
 protected:
  static double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
};

TEST_F(AgentDeadline, SilentPeerIsDroppedBeforeAuthentication) {
  io_timeout_ = 300ms;
  start();
  auto ch = connect_raw();  // says nothing
  const auto t0 = Clock::now();
  EXPECT_THROW(ch->recv(), ConnectionClosed);
  EXPECT_GE(since(t0), 0.25);
  EXPECT_LT(since(t0), 3.0);
}

TEST_F(AgentDeadline, SilentHostIsDroppedAfterTheIdleTimeout) {
  idle_timeout_ = 500ms;
  start();
  auto ch = connect();
  const auto t0 = Clock::now();
  EXPECT_THROW(ch->recv(), ConnectionClosed);
  EXPECT_GE(since(t0), 0.45);
  EXPECT_LT(since(t0), 3.0);
}

// GET_FILE of more than the socket buffers hold, and the host never reads:
// the agent's send gives up after io_timeout and closes. Draining later
// finds the connection ended before FILE_END.
TEST_F(AgentDeadline, HostThatStopsReadingIsDropped) {
  io_timeout_ = 300ms;
  files_root_ = dir_.path();
  start();
  write_file(path("big"), random_bytes(24u << 20, 3));
  auto ch = connect();
  ch->send(encode(GetFile{path("big")}));
  std::this_thread::sleep_for(1500ms);  // > io_timeout: the agent has given up by now
  uint64_t got = 0;
  bool ended = false;
  try {
    for (;;) {
      Frame f = ch->recv();
      if (f.type == FrameType::kFileEnd) break;
      got += f.payload.size();
    }
  } catch (const ConnectionClosed&) {
    ended = true;
  }
  EXPECT_TRUE(ended) << "the agent waited for us to read all " << got << " bytes";
  EXPECT_LT(got, 24u << 20);
}

// Stopping the server waits for its connections at most stop_timeout. A
// connection stuck where shutting its socket down cannot reach it (here a
// VERIFY read that does not return, as a dead disk's would) is left running
// on the state it shares with the server, which it keeps alive: the server
// can go first (ASan would see a use after free otherwise).
TEST_F(AgentDeadline, StopWaitsForAStuckConnectionOnlyUntilItsDeadline) {
  struct Latch {
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, release = false, returned = false;
  };
  auto latch = std::make_shared<Latch>();
  agent::AgentConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.key = key_;
  cfg.allow_file = true;
  cfg.name = "target-agent test";
  cfg.stop_timeout = 300ms;
  cfg.verify_read_hook = [latch](uint64_t, std::span<uint8_t>) {
    std::unique_lock lock(latch->m);
    latch->entered = true;
    latch->cv.notify_all();
    latch->cv.wait_for(lock, 20s, [&] { return latch->release; });
    latch->returned = true;
    latch->cv.notify_all();
  };
  const std::string disk = path("disk");
  write_file(disk, std::vector<uint8_t>(1 << 20, 0));
  server_ = std::make_unique<agent::Server>(cfg);
  server_->start();
  auto ch = connect();
  const auto data = random_bytes(256 << 10, 5);
  open(*ch, disk, data.size());
  send_data(*ch, 0, data);
  ch->send(encode(Finish{data.size()}));
  for (Frame f = ch->recv(); f.type != FrameType::kFinished; f = ch->recv()) ASSERT_EQ(f.type, FrameType::kAck);
  ch->send(encode(Verify{64 << 10}));
  {
    std::unique_lock lock(latch->m);
    ASSERT_TRUE(latch->cv.wait_for(lock, 10s, [&] { return latch->entered; })) << "VERIFY never read";
  }
  const auto t0 = Clock::now();
  server_->stop();
  EXPECT_LT(since(t0), 5.0) << "stop waited for the stuck connection";
  EXPECT_EQ(server_->left_running(), 1);
  server_.reset();  // the stuck thread still runs on the shared state
  std::unique_lock lock(latch->m);
  latch->release = true;
  latch->cv.notify_all();
  EXPECT_TRUE(latch->cv.wait_for(lock, 10s, [&] { return latch->returned; }));
  lock.unlock();
  // Its connection then ends on the shut-down socket and frees the state.
  std::this_thread::sleep_for(300ms);
}
