// The agent's own deadlines: a peer that never authenticates, an
// authenticated host that goes silent, and a host that stops reading what
// the agent sends each lose their connection in a bounded time instead of
// holding one of the agent's few connection slots (and a session) forever.
#include <chrono>

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
