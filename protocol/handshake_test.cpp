#include "protocol/handshake.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

using namespace mkproto;

namespace {

struct Pair {
  Pair() {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) throw std::runtime_error("socketpair");
    host = std::make_unique<SocketChannel>(sv[0], std::chrono::milliseconds{5000});
    agent = std::make_unique<SocketChannel>(sv[1], std::chrono::milliseconds{5000});
  }
  std::unique_ptr<SocketChannel> host, agent;
};

const Key kKey = derive_key("correct horse battery staple\n");

}  // namespace

TEST(Auth, TrailingNewlineIgnoredShortSecretRefused) {
  EXPECT_EQ(derive_key("0123456789abcdef\n"), derive_key("0123456789abcdef"));
  EXPECT_NE(derive_key("0123456789abcdef"), derive_key("0123456789abcdeg"));
  EXPECT_THROW(derive_key("short"), ProtocolError);
}

TEST(Auth, ProofsAreDirectional) {
  Nonce a = random_nonce(), b = random_nonce();
  Mac m = host_proof(kKey, a, b, 1);
  EXPECT_TRUE(check_host_proof(kKey, a, b, 1, m));
  EXPECT_FALSE(check_agent_proof(kKey, a, b, 1, m));  // reflection
  EXPECT_FALSE(check_host_proof(kKey, b, a, 1, m));   // swapped nonces
  EXPECT_FALSE(check_host_proof(derive_key("another secret of 16+"), a, b, 1, m));
}

TEST(Handshake, SucceedsWithTheSameSecret) {
  Pair p;
  std::thread agent([&] { EXPECT_EQ(server_handshake(*p.agent, kKey, "agent-x").peer, "host-y"); });
  auto r = client_handshake(*p.host, kKey, "host-y");
  agent.join();
  EXPECT_EQ(r.peer, "agent-x");
  EXPECT_EQ(r.version, kProtocolVersion);
}

TEST(Handshake, WrongSecretIsRefusedOnBothSides) {
  Pair p;
  ErrorCode agent_code = ErrorCode::kNone;
  std::thread agent([&] {
    try {
      server_handshake(*p.agent, kKey, "agent");
    } catch (const ProtocolError& e) {
      agent_code = e.code;
    }
  });
  try {
    client_handshake(*p.host, derive_key("not the right secret!"), "host");
    ADD_FAILURE() << "handshake with a wrong secret succeeded";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kAuthFailed);
  }
  agent.join();
  EXPECT_EQ(agent_code, ErrorCode::kAuthFailed);
}

TEST(Handshake, FrameBeforeAuthIsRefused) {
  Pair p;
  ErrorCode agent_code = ErrorCode::kNone;
  std::thread agent([&] {
    try {
      server_handshake(*p.agent, kKey, "agent");
    } catch (const ProtocolError& e) {
      agent_code = e.code;
    }
  });
  p.host->send(encode(Open{}));
  try {
    decode<Challenge>(p.host->recv());
    ADD_FAILURE();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kNotAuthenticated);
  }
  agent.join();
  EXPECT_EQ(agent_code, ErrorCode::kNotAuthenticated);
}

TEST(Handshake, OversizedFrameBeforeAuthIsRefused) {
  MemoryChannel in;
  Frame big = encode(Hello{});
  big.payload.resize(kMaxPayloadUnauthenticated + 1);
  in.feed(encode_frame(big));
  try {
    server_handshake(in, kKey, "agent");
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kNotAuthenticated);
  }
  // The refusal went out as an ERROR frame.
  FrameDecoder d;
  d.feed(in.sent);
  auto f = d.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(decode<ErrorMsg>(*f).code, ErrorCode::kNotAuthenticated);
}

TEST(Handshake, NoCommonVersion) {
  MemoryChannel in;
  Hello h;
  h.min_version = h.max_version = kProtocolVersion + 1;
  in.feed(encode_frame(encode(h)));
  try {
    server_handshake(in, kKey, "agent");
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kBadVersion);
  }
}
