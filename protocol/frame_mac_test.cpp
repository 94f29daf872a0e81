#include "protocol/frame_mac.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstring>
#include <string>
#include <vector>

#include "protocol/checksum.h"
#include "protocol/frame.h"
#include "protocol/session_keys.h"
#include "protocol/wire.h"

using namespace mkproto;

namespace {

const Key kKey = derive_key("frame mac test secret, 16+ bytes");

SessionKeys keys(uint8_t salt = 0) {
  Nonce h{}, a{};
  h[0] = 1;
  a[0] = static_cast<uint8_t>(2 + salt);
  return derive_session_keys(kKey, h, a, kProtocolVersion);
}

std::vector<uint8_t> payload(size_t n) {
  std::vector<uint8_t> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i * 7 + 3);
  return p;
}

// The frames one direction sends, back to back.
std::vector<std::vector<uint8_t>> stream(const FrameMacKey& k, int n, FrameType type = FrameType::kData) {
  std::vector<std::vector<uint8_t>> out;
  for (int i = 0; i < n; ++i)
    out.push_back(encode_sealed(k, static_cast<uint64_t>(i), type, 0, static_cast<uint64_t>(i) * 100, payload(100)));
  return out;
}

// Decodes `frames` as the agent would from the host; the error code of the
// first refused frame, kNone if all pass.
ErrorCode agent_decodes(const std::vector<std::vector<uint8_t>>& frames, int* accepted = nullptr) {
  FrameDecoder d;
  d.set_mac_key(keys().host_to_agent);
  int ok = 0;
  for (auto& f : frames) d.feed(f);
  try {
    while (d.next()) ++ok;
  } catch (const ProtocolError& e) {
    if (accepted) *accepted = ok;
    return e.code;
  }
  if (accepted) *accepted = ok;
  return ErrorCode::kNone;
}

}  // namespace

// libcrypto computes the tag; libsodium, another implementation of RFC 8439,
// must agree at every length around Poly1305's 16-byte blocks and NEON's
// 64-byte ones, for both directions and large counters.
TEST(FrameMac, IsTheAeadTagOfAnEmptyMessageAsLibsodiumComputesIt) {
  for (const FrameMacKey& k : {keys().host_to_agent, keys().agent_to_host}) {
    for (size_t n : {0u, 1u, 15u, 16u, 17u, 63u, 64u, 65u, 1000u, 4096u, (1u << 20) + 13u}) {
      for (uint64_t counter : {uint64_t{0}, uint64_t{7}, uint64_t{0x0102030405060708}}) {
        SCOPED_TRACE(std::to_string(n) + " bytes, counter " + std::to_string(counter));
        auto frame = payload(n);
        Tag t = frame_tag(k, counter, frame);
        unsigned char nonce[12] = {static_cast<uint8_t>(k.dir)};
        put_le(nonce + 4, counter, 8);
        unsigned char none = 0, want[16];
        unsigned long long len = 0;
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(&none, want, &len, &none, 0, frame.data(), frame.size(),
                                                           nullptr, nonce, k.key.data());
        EXPECT_EQ(0, std::memcmp(t.data(), want, 16));
        EXPECT_TRUE(frame_tag_ok(k, counter, frame, t.data()));
        want[15] ^= 1;
        EXPECT_FALSE(frame_tag_ok(k, counter, frame, want));
      }
    }
  }
}

TEST(FrameMac, EveryBitOfHeaderAndPayloadCounts) {
  auto k = keys().agent_to_host;
  auto frame = encode_sealed(k, 3, FrameType::kHashes, 0, 4096, payload(64));
  std::span<const uint8_t> body(frame.data(), frame.size() - kTagSize);
  const uint8_t* tag = frame.data() + body.size();
  ASSERT_TRUE(frame_tag_ok(k, 3, body, tag));
  for (size_t i = 0; i < frame.size(); ++i) {
    auto bad = frame;
    bad[i] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_FALSE(frame_tag_ok(k, 3, {bad.data(), body.size()}, bad.data() + body.size())) << "byte " << i;
  }
  EXPECT_FALSE(frame_tag_ok(k, 4, body, tag));                              // another position
  EXPECT_FALSE(frame_tag_ok(keys().host_to_agent, 3, body, tag));           // the other direction
  EXPECT_FALSE(frame_tag_ok(keys(1).agent_to_host, 3, body, tag));          // another connection
  FrameMacKey same_key_other_dir{k.key, Direction::kHostToAgent};
  EXPECT_FALSE(frame_tag_ok(same_key_other_dir, 3, body, tag));             // the direction is in the nonce too
}

TEST(FrameMac, DecoderAcceptsTheSealedStreamByteByByte) {
  auto frames = stream(keys().host_to_agent, 3);
  FrameDecoder d;
  d.set_mac_key(keys().host_to_agent);
  std::vector<Frame> got;
  for (auto& f : frames)
    for (uint8_t b : f) {
      d.feed({&b, 1});
      while (auto x = d.next()) got.push_back(*x);
    }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].offset, 200u);
  EXPECT_EQ(got[2].payload, payload(100));
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(FrameMac, ForgedFrameWithARecomputedV1ChecksumIsRefused) {
  auto frames = stream(keys().host_to_agent, 2);
  // What a relay can do without the key: a new frame at the right position
  // with the XXH3 check filled in and a tag copied from a real frame.
  Frame forged;
  forged.type = FrameType::kExec;
  forged.seq = 1;
  forged.payload = payload(40);
  auto bytes = encode_frame(forged);
  bytes.insert(bytes.end(), frames[1].end() - kTagSize, frames[1].end());
  int accepted = -1;
  EXPECT_EQ(agent_decodes({frames[0], bytes}, &accepted), ErrorCode::kBadMac);
  EXPECT_EQ(accepted, 1);
  // Check field zeroed as a v2 sender writes it: still no valid tag.
  put_le(&bytes[24], 0, 8);
  EXPECT_EQ(agent_decodes({frames[0], bytes}), ErrorCode::kBadMac);
}

TEST(FrameMac, ReplayedReorderedDroppedAndReflectedFramesAreRefused) {
  auto f = stream(keys().host_to_agent, 3);
  EXPECT_EQ(agent_decodes({f[0], f[1], f[2]}), ErrorCode::kNone);
  EXPECT_EQ(agent_decodes({f[0], f[0]}), ErrorCode::kBadSequence);      // replayed as is
  EXPECT_EQ(agent_decodes({f[0], f[2], f[1]}), ErrorCode::kBadSequence);  // reordered
  EXPECT_EQ(agent_decodes({f[0], f[2]}), ErrorCode::kBadSequence);      // one dropped
  // Replayed / reordered with the seq field rewritten to the expected one.
  auto replay = f[0];
  put_le(&replay[12], 1, 4);
  EXPECT_EQ(agent_decodes({f[0], replay}), ErrorCode::kBadMac);
  auto moved = f[2];
  put_le(&moved[12], 1, 4);
  EXPECT_EQ(agent_decodes({f[0], moved}), ErrorCode::kBadMac);
  // Reflected: the agent's own frame sent back to it at the right position.
  auto mine = stream(keys().agent_to_host, 1, FrameType::kAck);
  EXPECT_EQ(agent_decodes({mine[0]}), ErrorCode::kBadMac);
  // From another connection (other nonces) at the right position.
  auto other = stream(keys(1).host_to_agent, 1);
  EXPECT_EQ(agent_decodes({other[0]}), ErrorCode::kBadMac);
}

TEST(FrameMac, UnsealedFrameAfterTheHandshakeIsRefused) {
  Frame plain;
  plain.type = FrameType::kData;
  plain.payload = payload(100);
  auto bytes = encode_frame(plain);  // valid v1-style check, no tag
  bytes.resize(bytes.size() + kTagSize, 0);
  EXPECT_EQ(agent_decodes({bytes}), ErrorCode::kBadMac);
}
