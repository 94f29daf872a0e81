#include "protocol/frame.h"

#include <gtest/gtest.h>

#include "protocol/wire.h"

using namespace mkproto;

namespace {

Frame sample(uint32_t seq = 0) {
  Frame f;
  f.type = FrameType::kData;
  f.seq = seq;
  f.offset = 0x123456789abcull;
  f.payload = {1, 2, 3, 4, 5};
  return f;
}

ErrorCode decode_error_code(std::vector<uint8_t> bytes, uint32_t max = kMaxPayload) {
  FrameDecoder d(max);
  d.feed(bytes);
  try {
    while (d.next()) {
    }
  } catch (const ProtocolError& e) {
    return e.code;
  }
  return ErrorCode::kNone;
}

}  // namespace

TEST(Frame, RoundTripsByteByByte) {
  auto bytes = encode_frame(sample(0));
  auto more = encode_frame(sample(1));
  bytes.insert(bytes.end(), more.begin(), more.end());
  FrameDecoder d;
  std::vector<Frame> got;
  for (uint8_t b : bytes) {
    d.feed({&b, 1});
    while (auto f = d.next()) got.push_back(*f);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].type, FrameType::kData);
  EXPECT_EQ(got[0].offset, 0x123456789abcull);
  EXPECT_EQ(got[0].payload, (std::vector<uint8_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(got[1].seq, 1u);
  EXPECT_EQ(d.buffered(), 0u);
}

TEST(Frame, HeaderLayoutIsAsDocumented) {
  auto bytes = encode_frame(sample());
  ASSERT_EQ(bytes.size(), kHeaderSize + 5);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "MKPF");
  EXPECT_EQ(bytes[4], kFrameVersion);
  EXPECT_EQ(bytes[5], static_cast<uint8_t>(FrameType::kData));
  EXPECT_EQ(get_le(&bytes[8], 4), 5u);
  EXPECT_EQ(get_le(&bytes[16], 8), 0x123456789abcull);
}

TEST(Frame, EveryFlippedBitIsDetected) {
  auto good = encode_frame(sample());
  for (size_t bit = 0; bit < good.size() * 8; ++bit) {
    auto bad = good;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    FrameDecoder d;
    d.feed(bad);
    bool rejected = false;
    try {
      // A flip in the length field may leave the decoder waiting for more.
      rejected = !d.next().has_value();
    } catch (const ProtocolError&) {
      rejected = true;
    }
    EXPECT_TRUE(rejected) << "bit " << bit;
  }
}

TEST(Frame, SpecificErrors) {
  auto good = encode_frame(sample());
  auto bad = good;
  bad[0] = 'X';
  EXPECT_EQ(decode_error_code(bad), ErrorCode::kBadMagic);
  bad = good;
  bad[4] = 9;
  EXPECT_EQ(decode_error_code(bad), ErrorCode::kBadVersion);
  bad = good;
  bad[5] = 200;
  EXPECT_EQ(decode_error_code(bad), ErrorCode::kBadType);
  bad = good;
  bad[7] = 0x80;
  EXPECT_EQ(decode_error_code(bad), ErrorCode::kMalformed);
  bad = good;
  bad.back() ^= 1;
  EXPECT_EQ(decode_error_code(bad), ErrorCode::kBadChecksum);
  EXPECT_EQ(decode_error_code(encode_frame(sample(7))), ErrorCode::kBadSequence);
  EXPECT_EQ(decode_error_code(good, 4), ErrorCode::kTooLarge);
  // A huge declared length is refused from the header alone, before any
  // payload is buffered.
  bad = good;
  put_le(&bad[8], 0xffffffffu, 4);
  EXPECT_EQ(decode_error_code(std::vector<uint8_t>(bad.begin(), bad.begin() + kHeaderSize)), ErrorCode::kTooLarge);
}

TEST(Frame, WantedTellsHowManyBytesAreMissing) {
  auto bytes = encode_frame(sample());
  FrameDecoder d;
  EXPECT_EQ(d.wanted(), kHeaderSize);
  d.feed({bytes.data(), 10});
  EXPECT_EQ(d.wanted(), kHeaderSize - 10);
  d.feed({bytes.data() + 10, kHeaderSize - 10});
  EXPECT_EQ(d.wanted(), 5u);
  EXPECT_FALSE(d.next());
}
