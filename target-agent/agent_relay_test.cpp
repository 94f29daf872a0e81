// The agent's side of the relay (docs/protocol.md, "Relay"): a relay
// connection is accepted only with the hop key the host issued over a
// control connection, only for the relayed session, and only for placing
// frames; a wrong key is refused before anything is written.
#include <sodium.h>

#include "testing/agent_fixture.h"

using namespace mktest;
using namespace mkproto;

namespace {

class AgentRelay : public AgentTest {
 protected:
  // A control request, handled once a TARGET_QUERY after it is answered
  // (RELAY_STATUS frames also come every 100 ms); returns the latest status.
  static RelayStatus request(Channel& ch, const Frame& f) {
    ch.send(f);
    ch.send(encode(TargetQuery{}));
    RelayStatus st;
    for (int i = 0; i < 100; ++i) {
      Frame r = ch.recv();
      if (r.type == FrameType::kTargetInfo) return st;
      st = decode<RelayStatus>(r);
    }
    throw std::runtime_error("no TARGET_INFO");
  }
  std::unique_ptr<SocketChannel> hop(const HopKey& k) {
    auto ch = connect_raw();
    Key key;
    std::copy(k.begin(), k.end(), key.begin());
    client_handshake(*ch, key, "upstream agent");
    return ch;
  }
};

HopKey random_key() {
  HopKey k;
  randombytes_buf(k.data(), k.size());
  return k;
}

}  // namespace

TEST_F(AgentRelay, OnlyTheIssuedHopKeyOpensOnlyTheRelayedSessionAndOnlyPlaces) {
  const std::string target = path("disk");
  write_file(target, Bytes(4u << 20, 0xee));
  start(true, target);
  write_file(target, Bytes(4u << 20, 0xee));
  const SessionId session{7, 7, 7};
  const HopKey key = random_key();

  // No key issued yet: a hop key is just a wrong secret.
  EXPECT_THROW(hop(key), ProtocolError);

  auto control = connect();
  RelayStatus st = request(*control, encode(RelayAccept{session, key}));
  EXPECT_EQ(st.hop, HopState::kNone);
  EXPECT_FALSE(st.finished);

  // A wrong key is refused at the handshake and writes nothing.
  try {
    hop(random_key());
    ADD_FAILURE() << "a wrong hop key was accepted";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kAuthFailed);
  }
  // The right key, another session: refused before the target is touched.
  {
    auto ch = hop(key);
    ch->send(encode(Open{SessionId{9}, target, 1u << 20, HolesMode::kZero}));
    expect_error(*ch, ErrorCode::kNotAllowed);
  }
  EXPECT_EQ(read_file(target), Bytes(4u << 20, 0xee)) << "nothing written by refused relay connections";

  // The right key and session: placing frames only.
  {
    auto ch = hop(key);
    Opened o = open(*ch, target, 1u << 20, HolesMode::kZero, session);
    EXPECT_EQ(o.watermark, 0u);
    ch->send(encode(ExecMsg{{"/bin/true"}, 0}));
    expect_error(*ch, ErrorCode::kUnexpected);
  }
  {
    auto ch = hop(key);
    open(*ch, target, 1u << 20, HolesMode::kZero, session);
    ch->send(encode(Verify{1u << 20, VerifyScope::kAll}));
    expect_error(*ch, ErrorCode::kUnexpected);
  }
  // Control frames are for the node's own secret only.
  {
    auto ch = hop(key);
    ch->send(encode(RelayAccept{session, random_key()}));
    expect_error(*ch, ErrorCode::kUnexpected);
  }

  // A new key replaces the old one; an all-zero key accepts none.
  const HopKey key2 = random_key();
  request(*control, encode(RelayAccept{session, key2}));
  EXPECT_THROW(hop(key), ProtocolError);
  EXPECT_NO_THROW(hop(key2));
  request(*control, encode(RelayAccept{session, HopKey{}}));
  EXPECT_THROW(hop(key2), ProtocolError);
  EXPECT_THROW(hop(HopKey{}), ProtocolError);
}
