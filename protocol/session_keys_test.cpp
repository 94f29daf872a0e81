#include "protocol/session_keys.h"

#include <gtest/gtest.h>

using namespace mkproto;

namespace {
const Key kKey = derive_key("session key test secret 0123");
Nonce nonce(uint8_t b) {
  Nonce n{};
  n.fill(b);
  return n;
}
}  // namespace

TEST(SessionKeys, BothSidesDeriveTheSameDistinctDirectionKeys) {
  auto a = derive_session_keys(kKey, nonce(1), nonce(2), 2);
  auto b = derive_session_keys(kKey, nonce(1), nonce(2), 2);
  EXPECT_EQ(a.host_to_agent.key, b.host_to_agent.key);
  EXPECT_EQ(a.agent_to_host.key, b.agent_to_host.key);
  EXPECT_NE(a.host_to_agent.key, a.agent_to_host.key);
  EXPECT_EQ(a.host_to_agent.dir, Direction::kHostToAgent);
  EXPECT_EQ(a.agent_to_host.dir, Direction::kAgentToHost);
  EXPECT_NE(a.host_to_agent.key, kKey);  // the long-term key is never used on frames
}

TEST(SessionKeys, EveryInputChangesTheKeys) {
  auto base = derive_session_keys(kKey, nonce(1), nonce(2), 2).host_to_agent.key;
  EXPECT_NE(base, derive_session_keys(kKey, nonce(3), nonce(2), 2).host_to_agent.key);
  EXPECT_NE(base, derive_session_keys(kKey, nonce(1), nonce(3), 2).host_to_agent.key);
  EXPECT_NE(base, derive_session_keys(kKey, nonce(2), nonce(1), 2).host_to_agent.key);  // nonces swapped
  EXPECT_NE(base, derive_session_keys(kKey, nonce(1), nonce(2), 3).host_to_agent.key);
  EXPECT_NE(base, derive_session_keys(derive_key("another secret, 16+ bytes"), nonce(1), nonce(2), 2).host_to_agent.key);
}

TEST(SessionKeys, DeltaKeyIsPerPushSessionNotPerConnection) {
  SessionId s1{1}, s2{2};
  EXPECT_EQ(derive_delta_key(kKey, s1), derive_delta_key(kKey, s1));
  EXPECT_NE(derive_delta_key(kKey, s1), derive_delta_key(kKey, s2));
  EXPECT_NE(derive_delta_key(kKey, s1), derive_delta_key(derive_key("another secret, 16+ bytes"), s1));
}
