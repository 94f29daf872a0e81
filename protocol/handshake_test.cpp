#include "protocol/handshake.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "protocol/wire.h"

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
  Transcript t{a, b, 2, 2, 2};
  Mac m = host_proof(kKey, t);
  EXPECT_TRUE(check_host_proof(kKey, t, m));
  EXPECT_FALSE(check_agent_proof(kKey, t, m));                 // reflection
  EXPECT_FALSE(check_host_proof(kKey, Transcript{b, a, 2, 2, 2}, m));  // swapped nonces
  EXPECT_FALSE(check_host_proof(derive_key("another secret of 16+"), t, m));
}

TEST(Auth, ProofsCoverTheOfferedVersionRange) {
  Nonce a = random_nonce(), b = random_nonce();
  Mac m = host_proof(kKey, Transcript{a, b, 2, 2, 3});
  EXPECT_FALSE(check_host_proof(kKey, Transcript{a, b, 2, 2, 2}, m));  // a relay narrowed HELLO
  EXPECT_FALSE(check_host_proof(kKey, Transcript{a, b, 2, 1, 3}, m));
  EXPECT_FALSE(check_host_proof(kKey, Transcript{a, b, 3, 2, 3}, m));
  EXPECT_TRUE(check_host_proof(kKey, Transcript{a, b, 2, 2, 3}, m));
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

TEST(Handshake, InstallsFrameKeysOnBothSides) {
  Pair p;
  std::thread agent([&] {
    server_handshake(*p.agent, kKey, "agent");
    Frame f = p.agent->recv();
    EXPECT_EQ(f.type, FrameType::kTargetQuery);
    p.agent->send(encode(Ack{42}));
  });
  client_handshake(*p.host, kKey, "host");
  p.host->send(encode(TargetQuery{}));
  EXPECT_EQ(decode<Ack>(p.host->recv()).durable, 42u);
  agent.join();
  // Frames after the handshake carry a tag, not the XXH3 check.
  auto next = p.host->encode_next(encode(Bye{}));
  EXPECT_EQ(next.size(), kHeaderSize + 1 + kTagSize);  // BYE's revoke byte
  EXPECT_EQ(get_le(&next[24], 8), 0u);
}

TEST(Handshake, AgentRefusesAVersion1Hello) {
  MemoryChannel in;
  auto v1 = encode_frame(encode(Hello{}));
  v1[4] = 1;  // frame version 1, as a v1 host sends it
  put_le(&v1[24], xxh3_64(v1.data(), 24), 8);
  in.feed(v1);
  try {
    server_handshake(in, kKey, "agent");
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kBadVersion);
    EXPECT_NE(e.detail.find("protocol v1: refused"), std::string::npos) << e.detail;
  }
  FrameDecoder d;
  d.feed(in.sent);
  auto f = d.next();
  ASSERT_TRUE(f);
  EXPECT_EQ(decode<ErrorMsg>(*f).code, ErrorCode::kBadVersion);
}

TEST(Handshake, AgentRefusesAHelloOfferingOnlyVersion1) {
  MemoryChannel in;
  Hello h;
  h.min_version = h.max_version = 1;
  in.feed(encode_frame(encode(h)));
  try {
    server_handshake(in, kKey, "agent");
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kBadVersion);
  }
}

TEST(Handshake, HostRefusesAnAgentChoosingVersion1) {
  MemoryChannel host;
  Challenge c;
  c.version = 1;
  c.nonce = random_nonce();
  host.feed(encode_frame([&] {
    Frame f = encode(c);
    f.seq = 0;
    return f;
  }()));
  try {
    client_handshake(host, kKey, "host");
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kBadVersion);
  }
}

// A relay that rewrites HELLO's range (here widening it, as a downgrade to
// an older version would): the agent still picks 2, but both proofs cover
// the range as each side saw it, so the agent refuses the host's proof.
TEST(Handshake, RelayRewritingTheVersionRangeIsRefused) {
  Pair p;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  SocketChannel relay_up(sv[0], std::chrono::milliseconds{5000});
  SocketChannel agent_side(sv[1], std::chrono::milliseconds{5000});
  ErrorCode agent_code = ErrorCode::kNone;
  std::thread agent([&] {
    try {
      server_handshake(agent_side, kKey, "agent");
    } catch (const ProtocolError& e) {
      agent_code = e.code;
    }
  });
  std::thread relay([&] {
    try {
      Hello h = decode<Hello>(p.agent->recv());
      h.min_version = 1;
      relay_up.send(encode(h));
      p.agent->send(relay_up.recv());  // CHALLENGE
      relay_up.send(p.agent->recv());  // AUTH
      p.agent->send(relay_up.recv());  // ERROR
    } catch (const std::exception&) {
    }
  });
  try {
    client_handshake(*p.host, kKey, "host");
    ADD_FAILURE() << "handshake through a rewriting relay succeeded";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kAuthFailed);
  }
  agent.join();
  relay.join();
  EXPECT_EQ(agent_code, ErrorCode::kAuthFailed);
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

// The relay's hop keys (docs/protocol.md, "Relay"): the agent accepts its
// own key or the hop key, says which, and refuses any other.
TEST(Handshake, AcceptsEitherOfSeveralKeysAndSaysWhich) {
  const Key hop = derive_key("a hop key issued by the host");
  const std::vector<Key> keys{kKey, hop};
  for (size_t want : {size_t{0}, size_t{1}}) {
    Pair p;
    size_t which = 99;
    std::thread agent([&] { server_handshake(*p.agent, keys, "agent-x", which); });
    client_handshake(*p.host, keys[want], "host-y");
    agent.join();
    EXPECT_EQ(which, want);
  }
  Pair p;
  std::thread agent([&] {
    size_t which = 0;
    EXPECT_THROW(server_handshake(*p.agent, keys, "agent-x", which), ProtocolError);
  });
  try {
    client_handshake(*p.host, derive_key("neither of the two keys"), "host-y");
    ADD_FAILURE() << "a third key was accepted";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kAuthFailed);
  }
  agent.join();
}
