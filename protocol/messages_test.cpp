#include "protocol/messages.h"

#include <gtest/gtest.h>

using namespace mkproto;

TEST(Messages, RoundTrip) {
  Open o;
  o.session = SessionId{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  o.path = "/dev/sda";
  o.image_size = 1ull << 40;
  o.holes = HolesMode::kSkip;
  Open back = decode_open(encode(o));
  EXPECT_EQ(back.session, o.session);
  EXPECT_EQ(back.path, "/dev/sda");
  EXPECT_EQ(back.image_size, 1ull << 40);
  EXPECT_EQ(back.holes, HolesMode::kSkip);

  Opened op;
  op.watermark = 4096;
  op.resumed = true;
  op.target = {"/dev/sda", TargetKind::kBlockDevice, 1ull << 33, 4096, true, "/mnt"};
  Opened ob = decode_opened(encode(op));
  EXPECT_EQ(ob.watermark, 4096u);
  EXPECT_TRUE(ob.resumed);
  EXPECT_EQ(ob.target.sector_size, 4096u);
  EXPECT_EQ(ob.target.mount_point, "/mnt");

  ExecMsg e{{"sh", "-c", "echo hi"}, 5};
  EXPECT_EQ(decode_exec(encode(e)).argv, e.argv);
  Hashes h{{1, 2, 3}};
  Frame hf = encode_hashes(8192, h);
  EXPECT_EQ(hf.offset, 8192u);
  EXPECT_EQ(decode_hashes(hf).hashes, h.hashes);
  auto sk = decode_skip(encode_skip(10, 20, SkipReason::kDontCare));
  EXPECT_EQ(sk.length, 20u);
  EXPECT_EQ(sk.reason, SkipReason::kDontCare);
}

TEST(Messages, MalformedPayloadsNameTheField) {
  Frame f = encode(Open{});
  f.payload.pop_back();
  try {
    decode_open(f);
    FAIL() << "truncated OPEN accepted";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kMalformed);
    EXPECT_NE(std::string(e.what()).find("'holes'"), std::string::npos) << e.what();
  }
  f = encode(Open{});
  f.payload.push_back(0);
  EXPECT_THROW(decode_open(f), ProtocolError);  // trailing byte
  f = encode(Open{});
  f.payload.back() = 7;  // holes mode
  EXPECT_THROW(decode_open(f), ProtocolError);
  EXPECT_THROW(decode_zero(encode_zero(0, 0)), ProtocolError);               // empty range
  EXPECT_THROW(decode_zero(encode_zero(~0ull - 5, 100)), ProtocolError);     // overflow
  EXPECT_THROW(decode_verify(encode(Verify{1000})), ProtocolError);          // not a power of two
  f = encode(Verify{4096, VerifyScope::kWritten});
  f.payload.back() = 2;  // scope
  EXPECT_THROW(decode_verify(f), ProtocolError);
  EXPECT_THROW(decode_exec(encode(ExecMsg{{}, 0})), ProtocolError);          // no argv
  EXPECT_THROW(decode_put_file(encode(PutFile{"/x", 1, 0170000})), ProtocolError);
}

// VERIFY's scope byte came after v1's first release: a 4-byte payload (no
// scope) still decodes, as "read back everything".
TEST(Messages, VerifyScopeIsOptionalOnTheWire) {
  EXPECT_EQ(decode_verify(encode(Verify{4096, VerifyScope::kWritten})).scope, VerifyScope::kWritten);
  Frame f = encode(Verify{4096, VerifyScope::kWritten});
  f.payload.pop_back();
  auto v = decode_verify(f);
  EXPECT_EQ(v.block, 4096u);
  EXPECT_EQ(v.scope, VerifyScope::kAll);
}

TEST(Messages, WrongTypeIsUnexpectedAndErrorFramesBecomeExceptions) {
  try {
    decode_open(encode(Ack{1}));
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kUnexpected);
  }
  try {
    decode_open(encode(ErrorMsg{ErrorCode::kMounted, 0, "/dev/sda1 is mounted on /"}));
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kMounted);
    EXPECT_NE(std::string(e.what()).find("/dev/sda1 is mounted"), std::string::npos);
  }
}
