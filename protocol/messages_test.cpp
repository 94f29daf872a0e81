// The generic codec against the wire format of docs/protocol.md: every
// message type encodes to bytes written out here by hand from the table
// there (not through the codec), decodes back, and every way a payload can
// be wrong is refused naming the field.
#include "protocol/messages.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>

using namespace mkproto;

namespace {

// An expected payload, built independently of the codec, remembering which
// field each byte belongs to.
struct Wire {
  std::vector<uint8_t> bytes;
  std::vector<std::pair<size_t, std::string>> starts;  // field name by first byte
  std::vector<size_t> optional_at;  // the payload may end here (each trailing optional field)

  Wire& le(const char* field, uint64_t v, size_t n) {
    starts.emplace_back(bytes.size(), field);
    for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  Wire& fill(const char* field, uint8_t b, size_t n) {
    starts.emplace_back(bytes.size(), field);
    bytes.insert(bytes.end(), n, b);
    return *this;
  }
  Wire& str(const char* field, const std::string& s) {
    le(field, s.size(), 2);
    bytes.insert(bytes.end(), s.begin(), s.end());
    return *this;
  }
  Wire& optional() {
    optional_at.push_back(bytes.size());
    return *this;
  }
  // The field a payload cut to n bytes runs out in.
  std::string field_at(size_t n) const {
    std::string name;
    for (auto& [at, f] : starts)
      if (at <= n) name = f;
    return name;
  }
};

template <class M>
struct Case {
  M msg;
  uint64_t offset = 0;  // of the frame header
  Wire wire;
};

template <size_t N>
std::array<uint8_t, N> filled(uint8_t b) {
  std::array<uint8_t, N> a;
  a.fill(b);
  return a;
}

Wire target_wire(Wire w) {
  return w.str("path", "/dev/sda")
      .le("kind", 2, 1)
      .le("size", (1ull << 33) + 5, 8)
      .le("sector_size", 4096, 4)
      .le("mounted", 1, 1)
      .str("mount_point", "/mnt");
}
TargetInfo target() { return {"/dev/sda", TargetKind::kRegularFile, (1ull << 33) + 5, 4096, true, "/mnt"}; }

// One message of each type with every field away from its default.
Case<Hello> sample(std::type_identity<Hello>) {
  return {{1, 3, filled<32>(0xa1), "mkmaster 1.0"},
          0,
          Wire{}.le("min_version", 1, 2).le("max_version", 3, 2).fill("nonce", 0xa1, 32).str("client", "mkmaster 1.0")};
}
Case<Challenge> sample(std::type_identity<Challenge>) {
  return {{2, filled<32>(0xb2), "agent"}, 0, Wire{}.le("version", 2, 2).fill("nonce", 0xb2, 32).str("agent", "agent")};
}
Case<Auth> sample(std::type_identity<Auth>) { return {{filled<32>(0xc3)}, 0, Wire{}.fill("mac", 0xc3, 32)}; }
Case<AuthOk> sample(std::type_identity<AuthOk>) { return {{filled<32>(0xd4)}, 0, Wire{}.fill("mac", 0xd4, 32)}; }
Case<ErrorMsg> sample(std::type_identity<ErrorMsg>) {
  return {{ErrorCode::kMounted, 123456789, "/dev/sda1 is mounted on /"},
          0,
          Wire{}.le("code", 31, 2).le("watermark", 123456789, 8).str("message", "/dev/sda1 is mounted on /")};
}
Case<TargetQuery> sample(std::type_identity<TargetQuery>) {
  return {{"/dev/mmcblk0"}, 0, Wire{}.str("path", "/dev/mmcblk0")};
}
Case<TargetInfo> sample(std::type_identity<TargetInfo>) { return {target(), 0, target_wire({})}; }
Case<Open> sample(std::type_identity<Open>) {
  return {{filled<16>(0x10), "/dev/sda", (1ull << 40) | 7, HolesMode::kSkip},
          0,
          Wire{}.fill("session", 0x10, 16).str("path", "/dev/sda").le("image_size", (1ull << 40) | 7, 8).le("holes", 1, 1)};
}
Case<Opened> sample(std::type_identity<Opened>) {
  return {{1ull << 35, true, target()}, 0, target_wire(Wire{}.le("watermark", 1ull << 35, 8).le("resumed", 1, 1))};
}
Case<Zero> sample(std::type_identity<Zero>) { return {{8192, 4096}, 8192, Wire{}.le("length", 4096, 8)}; }
Case<Skip> sample(std::type_identity<Skip>) {
  return {{12288, 65536, SkipReason::kDontCare}, 12288, Wire{}.le("length", 65536, 8).le("reason", 1, 1)};
}
Case<Sync> sample(std::type_identity<Sync>) { return {}; }
Case<Ack> sample(std::type_identity<Ack>) {
  return {{77777, 88888}, 0, Wire{}.le("durable", 77777, 8).optional().le("applied", 88888, 8)};
}
Case<Finish> sample(std::type_identity<Finish>) { return {{1ull << 41}, 0, Wire{}.le("image_size", 1ull << 41, 8)}; }
Case<Finished> sample(std::type_identity<Finished>) { return {{99}, 0, Wire{}.le("watermark", 99, 8)}; }
Case<HashRequest> sample(std::type_identity<HashRequest>) {
  return {{65536, 1ull << 30, 4096, HashKind::kStrong}, 65536,
          Wire{}.le("length", 1ull << 30, 8).le("block", 4096, 4).optional().le("kind", 1, 1)};
}
Case<Hashes> sample(std::type_identity<Hashes>) {
  return {{4096, {1, ~0ull, 42}},
          4096,
          Wire{}.le("count", 3, 4).le("hash", 1, 8).le("hash", ~0ull, 8).le("hash", 42, 8)};
}
Case<HashesEnd> sample(std::type_identity<HashesEnd>) { return {}; }
Case<Verify> sample(std::type_identity<Verify>) {
  return {{1u << 20, VerifyScope::kWritten, VerifyOverlap::kAuto},
          0,
          Wire{}.le("block", 1u << 20, 4).optional().le("scope", 1, 1).optional().le("overlap", 1, 1)};
}
Case<Digests> sample(std::type_identity<Digests>) {
  return {{1u << 21, {filled<16>(0xe5), filled<16>(0xe6)}},
          1u << 21,
          Wire{}.le("count", 2, 4).fill("digest", 0xe5, 16).fill("digest", 0xe6, 16)};
}
Case<VerifyEnd> sample(std::type_identity<VerifyEnd>) {
  return {{filled<16>(0xf7), 5000, true, true},
          0,
          Wire{}.fill("overall", 0xf7, 16).le("bytes_read", 5000, 8).le("direct_io", 1, 1).optional().le("overlapped", 1, 1)};
}
Case<Repair> sample(std::type_identity<Repair>) {
  return {{3u << 20, 1u << 20}, 3u << 20, Wire{}.le("length", 1u << 20, 8)};
}
Case<GetFile> sample(std::type_identity<GetFile>) { return {{"/etc/hostname"}, 0, Wire{}.str("path", "/etc/hostname")}; }
Case<PutFile> sample(std::type_identity<PutFile>) {
  return {{"/tmp/x", 3, 0755}, 0, Wire{}.str("path", "/tmp/x").le("size", 3, 8).le("mode", 0755, 4)};
}
Case<FileEnd> sample(std::type_identity<FileEnd>) {
  return {{12, filled<16>(0x08), 0640}, 0, Wire{}.le("size", 12, 8).fill("digest", 0x08, 16).optional().le("mode", 0640, 4)};
}
Case<FileDone> sample(std::type_identity<FileDone>) { return {}; }
Case<ExecMsg> sample(std::type_identity<ExecMsg>) {
  return {{{"sh", "-c", "echo hi"}, 30},
          0,
          Wire{}.le("timeout_s", 30, 4).le("argc", 3, 2).str("argv", "sh").str("argv", "-c").str("argv", "echo hi")};
}
Case<ExitMsg> sample(std::type_identity<ExitMsg>) {
  return {{-2, true, false}, 0, Wire{}.le("status", 0xfffffffe, 4).le("signaled", 1, 1).le("timed_out", 0, 1)};
}
Case<Bye> sample(std::type_identity<Bye>) { return {{true}, 0, Wire{}.optional().le("revoke", 1, 1)}; }
Case<RelayAccept> sample(std::type_identity<RelayAccept>) {
  return {{filled<16>(0x21), filled<32>(0x42)}, 0, Wire{}.fill("session", 0x21, 16).fill("key", 0x42, 32)};
}
Case<RelayConnect> sample(std::type_identity<RelayConnect>) {
  return {{filled<16>(0x21), "10.0.0.2:7070", filled<32>(0x43), 2500},
          0,
          Wire{}.fill("session", 0x21, 16).str("address", "10.0.0.2:7070").fill("key", 0x43, 32).le("stall_ms", 2500, 4)};
}
Case<RelayStatus> sample(std::type_identity<RelayStatus>) {
  return {{1u << 26, (1u << 26) + 4096, true, HopState::kCatchingUp, 1u << 20, 3, "hop dropped"},
          0,
          Wire{}.le("durable", 1u << 26, 8).le("applied", (1u << 26) + 4096, 8).le("finished", 1, 1).le("hop", 3, 1)
              .le("hop_durable", 1u << 20, 8).le("hop_reconnects", 3, 4).str("message", "hop dropped")};
}

template <class M>
Frame frame_of(const Case<M>& c, std::vector<uint8_t> payload) {
  Frame f;
  f.type = M::kType;
  f.offset = c.offset;
  f.payload = std::move(payload);
  return f;
}

// The kMalformed message decoding f throws (fails the test if it decodes).
template <class M>
std::string malformed(const Frame& f) {
  try {
    decode<M>(f);
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kMalformed) << e.what();
    return e.what();
  }
  ADD_FAILURE() << type_name(M::kType) << " payload of " << f.payload.size() << " bytes accepted";
  return {};
}
::testing::AssertionResult names(const std::string& what, const std::string& field) {
  if (what.find("field '" + field + "'") != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "does not name field '" << field << "': " << what;
}

template <class T>
struct TestTypes;
template <class... M>
struct TestTypes<std::tuple<M...>> {
  using type = ::testing::Types<M...>;
};

template <class M>
class EveryMessage : public ::testing::Test {};
TYPED_TEST_SUITE(EveryMessage, TestTypes<AllMessages>::type);

TYPED_TEST(EveryMessage, EncodesAsDocumentedAndDecodesBack) {
  using M = TypeParam;
  auto c = sample(std::type_identity<M>{});
  Frame f = encode(c.msg);
  EXPECT_EQ(f.type, M::kType);
  EXPECT_EQ(f.flags, 0);
  EXPECT_EQ(f.offset, c.offset);
  EXPECT_EQ(f.payload, c.wire.bytes);
  // Every field is on the wire (checked above), so decoding back is the
  // identity exactly when re-encoding gives the same frame.
  f.seq = 5;
  Frame again = encode(decode<M>(f));
  EXPECT_EQ(again.offset, c.offset);
  EXPECT_EQ(again.payload, c.wire.bytes);
}

TYPED_TEST(EveryMessage, TruncatedPayloadNamesTheFieldItEndsIn) {
  using M = TypeParam;
  auto c = sample(std::type_identity<M>{});
  for (size_t n = 0; n < c.wire.bytes.size(); ++n) {
    if (std::find(c.wire.optional_at.begin(), c.wire.optional_at.end(), n) != c.wire.optional_at.end()) continue;
    std::vector<uint8_t> cut(c.wire.bytes.begin(), c.wire.bytes.begin() + static_cast<std::ptrdiff_t>(n));
    std::string what = malformed<M>(frame_of(c, cut));
    std::string want = "field '" + c.wire.field_at(n) + "': truncated";
    EXPECT_NE(what.find(want), std::string::npos) << "cut to " << n << " bytes: " << what;
  }
}

TYPED_TEST(EveryMessage, TrailingBytesAreRefused) {
  using M = TypeParam;
  auto c = sample(std::type_identity<M>{});
  auto bytes = c.wire.bytes;
  bytes.push_back(0);
  std::string what = malformed<M>(frame_of(c, bytes));
  EXPECT_TRUE(names(what, "end"));
  EXPECT_NE(what.find("1 trailing bytes"), std::string::npos) << what;
}

TYPED_TEST(EveryMessage, AnotherFrameTypeIsUnexpected) {
  using M = TypeParam;
  Frame f = encode(sample(std::type_identity<M>{}).msg);
  f.type = M::kType == FrameType::kBye ? FrameType::kSync : FrameType::kBye;
  try {
    decode<M>(f);
    FAIL() << "decoded as " << type_name(M::kType);
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kUnexpected);
  }
}

// Every frame type that carries a message has exactly one struct; DATA,
// FILE_DATA and OUTPUT carry raw bytes.
TEST(Messages, EveryMessageFrameTypeHasOneStruct) {
  std::array<int, 256> structs{};
  std::apply([&](auto... m) { (++structs[static_cast<uint8_t>(decltype(m)::kType)], ...); }, AllMessages{});
  for (int t = 0; t < 256; ++t) {
    if (!known_type(static_cast<uint8_t>(t))) continue;
    auto type = static_cast<FrameType>(t);
    bool raw = type == FrameType::kData || type == FrameType::kFileData || type == FrameType::kOutput;
    EXPECT_EQ(structs[t], raw ? 0 : 1) << type_name(type);
  }
}

// Patches byte `at` of a sample's payload.
template <class M>
Frame patched(size_t at, uint8_t v) {
  auto c = sample(std::type_identity<M>{});
  Frame f = frame_of(c, c.wire.bytes);
  f.payload.at(at) = v;
  return f;
}

TEST(Messages, UnknownEnumValuesNameTheField) {
  std::string what = malformed<Open>(patched<Open>(16 + 2 + 8 + 8, 2));
  EXPECT_TRUE(names(what, "holes"));
  EXPECT_NE(what.find("unknown holes mode 2"), std::string::npos) << what;
  EXPECT_TRUE(names(malformed<Skip>(patched<Skip>(8, 2)), "reason"));
  EXPECT_TRUE(names(malformed<Verify>(patched<Verify>(4, 2)), "scope"));
  EXPECT_TRUE(names(malformed<HashRequest>(patched<HashRequest>(8 + 4, 2)), "kind"));
  EXPECT_TRUE(names(malformed<TargetInfo>(patched<TargetInfo>(2 + 8, 0)), "kind"));
  EXPECT_TRUE(names(malformed<TargetInfo>(patched<TargetInfo>(2 + 8, 3)), "kind"));
  // Booleans are 0 or 1.
  EXPECT_TRUE(names(malformed<TargetInfo>(patched<TargetInfo>(2 + 8 + 1 + 8 + 4, 2)), "mounted"));
  EXPECT_TRUE(names(malformed<Opened>(patched<Opened>(8, 2)), "resumed"));
  EXPECT_TRUE(names(malformed<VerifyEnd>(patched<VerifyEnd>(16 + 8, 0xff)), "direct_io"));
  EXPECT_TRUE(names(malformed<ExitMsg>(patched<ExitMsg>(5, 2)), "timed_out"));
  // An error code this side does not know still arrives.
  EXPECT_EQ(static_cast<uint16_t>(decode<ErrorMsg>(patched<ErrorMsg>(0, 0xee)).code), 0xee);
}

TEST(Messages, OversizeStringsNameTheField) {
  EXPECT_TRUE(names(malformed<TargetQuery>(encode(TargetQuery{std::string(kMaxPath + 1, 'p')})), "path"));
  EXPECT_NO_THROW(decode<TargetQuery>(encode(TargetQuery{std::string(kMaxPath, 'p')})));
  std::string what = malformed<Hello>(encode(Hello{1, 1, {}, std::string(kMaxText + 1, 'c')}));
  EXPECT_TRUE(names(what, "client"));
  EXPECT_NE(what.find("longer than 512 bytes"), std::string::npos) << what;
  EXPECT_TRUE(names(malformed<ExecMsg>(encode(ExecMsg{{"sh", std::string(kMaxPath + 1, 'a')}, 0})), "argv"));
  EXPECT_TRUE(names(malformed<TargetInfo>(encode(TargetInfo{"/d", TargetKind::kBlockDevice, 0, 512, true,
                                                       std::string(kMaxPath + 1, 'm')})),
               "mount_point"));
  // An error message is cut to fit rather than refused by the peer.
  auto e = decode<ErrorMsg>(encode(ErrorMsg{ErrorCode::kIo, 0, std::string(kMaxText + 100, 'e')}));
  EXPECT_EQ(e.message, std::string(kMaxText, 'e'));
}

TEST(Messages, CountsOutOfBoundsNameTheField) {
  Hashes h{0, std::vector<uint64_t>(kMaxHashesPerFrame + 1, 1)};
  std::string what = malformed<Hashes>(encode(h));
  EXPECT_TRUE(names(what, "count"));
  EXPECT_NE(what.find("8193"), std::string::npos) << what;
  h.hashes.pop_back();
  EXPECT_EQ(decode<Hashes>(encode(h)).hashes.size(), kMaxHashesPerFrame);
  EXPECT_TRUE(names(malformed<Digests>(encode(Digests{0, std::vector<Digest128>(kMaxDigestsPerFrame + 1)})), "count"));
  EXPECT_TRUE(names(malformed<ExecMsg>(encode(ExecMsg{{}, 0})), "argc"));
  EXPECT_TRUE(names(malformed<ExecMsg>(encode(ExecMsg{std::vector<std::string>(kMaxArgs + 1, "x"), 0})), "argc"));
  EXPECT_EQ(decode<ExecMsg>(encode(ExecMsg{std::vector<std::string>(kMaxArgs, "x"), 0})).argv.size(), kMaxArgs);
  // A count promising more items than the payload holds.
  Frame f = encode(Hashes{0, {1, 2}});
  f.payload[0] = 3;
  EXPECT_NE(malformed<Hashes>(f).find("field 'hash': truncated"), std::string::npos);
}

TEST(Messages, ValuesOutOfRangeNameTheField) {
  for (uint32_t block : {0u, 1000u, 2048u, 4097u, 32u << 20})
    EXPECT_TRUE(names(malformed<Verify>(encode(Verify{block})), "block")) << block;
  EXPECT_TRUE(names(malformed<HashRequest>(encode(HashRequest{0, 4096, 3 << 12})), "block"));
  for (uint32_t sector : {0u, 3u, 131072u})
    EXPECT_TRUE(names(malformed<TargetInfo>(encode(TargetInfo{"/d", TargetKind::kBlockDevice, 0, sector, false, ""})),
                 "sector_size"))
        << sector;
  EXPECT_TRUE(names(malformed<Zero>(encode(Zero{0, 0})), "length"));
  EXPECT_TRUE(names(malformed<Zero>(encode(Zero{~0ull - 5, 100})), "length"));
  EXPECT_TRUE(names(malformed<Repair>(encode(Repair{0, 0})), "length"));
  EXPECT_TRUE(names(malformed<Repair>(encode(Repair{~0ull - 5, 100})), "length"));
  EXPECT_TRUE(names(malformed<Skip>(encode(Skip{~0ull, 1, SkipReason::kKeep})), "length"));
  EXPECT_TRUE(names(malformed<HashRequest>(encode(HashRequest{0, 0, 4096})), "length"));
  EXPECT_TRUE(names(malformed<PutFile>(encode(PutFile{"/x", 1, 010000})), "mode"));
  EXPECT_TRUE(names(malformed<PutFile>(encode(PutFile{"", 1, 0644})), "path"));
  EXPECT_TRUE(names(malformed<GetFile>(encode(GetFile{""})), "path"));
  EXPECT_NO_THROW(decode<TargetQuery>(encode(TargetQuery{""})));  // empty: the agent's --target
  EXPECT_TRUE(names(malformed<ExecMsg>(encode(ExecMsg{{"sh", std::string("a\0b", 3)}, 0})), "argv"));
  EXPECT_TRUE(names(malformed<Hello>(encode(Hello{2, 1, {}, ""})), "max_version"));
}

// VERIFY's scope byte came after v1's first release: a 4-byte payload (no
// scope) still decodes, as "read back everything".
TEST(Messages, VerifyScopeIsOptionalOnTheWire) {
  Frame f = encode(Verify{4096, VerifyScope::kWritten});
  ASSERT_EQ(f.payload.size(), 6u);
  f.payload.resize(4);
  auto v = decode<Verify>(f);
  EXPECT_EQ(v.block, 4096u);
  EXPECT_EQ(v.scope, VerifyScope::kAll);
  EXPECT_EQ(v.overlap, VerifyOverlap::kAfterFinish);
}

// The overlap byte came with overlapped verify: a 5-byte VERIFY (block,
// scope) reads back after FINISH as before; an overlap past 2 is malformed.
TEST(Messages, VerifyOverlapIsOptionalOnTheWire) {
  Frame f = encode(Verify{4096, VerifyScope::kWritten, VerifyOverlap::kAlways});
  ASSERT_EQ(f.payload.size(), 6u);
  f.payload.pop_back();
  auto v = decode<Verify>(f);
  EXPECT_EQ(v.scope, VerifyScope::kWritten);
  EXPECT_EQ(v.overlap, VerifyOverlap::kAfterFinish);
  f.payload.push_back(3);
  EXPECT_THROW(decode<Verify>(f), mkproto::ProtocolError);
  Frame e = encode(VerifyEnd{{}, 1, true, true});
  e.payload.pop_back();
  EXPECT_FALSE(decode<VerifyEnd>(e).overlapped);
}

// HASH_REQUEST's kind byte came with image indexes: a 12-byte payload
// still decodes, as the keyed hash of the bytes.
TEST(Messages, HashKindIsOptionalOnTheWire) {
  Frame f = encode(HashRequest{0, 8192, 4096, HashKind::kStrong});
  ASSERT_EQ(f.payload.size(), 13u);
  f.payload.pop_back();
  EXPECT_EQ(decode<HashRequest>(f).kind, HashKind::kKeyed);
}

// ACK's applied position came with progress ACKs: an 8-byte ACK (durable
// only) still decodes, with applied 0 ("not told").
TEST(Messages, AckAppliedIsOptionalOnTheWire) {
  Frame f = encode(Ack{4096, 1u << 20});
  ASSERT_EQ(f.payload.size(), 16u);
  f.payload.resize(8);
  auto a = decode<Ack>(f);
  EXPECT_EQ(a.durable, 4096u);
  EXPECT_EQ(a.applied, 0u);
}

TEST(Messages, ErrorFramesBecomeThePeersError) {
  try {
    decode<Open>(encode(ErrorMsg{ErrorCode::kMounted, 0, "/dev/sda1 is mounted on /"}));
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.code, ErrorCode::kMounted);
    EXPECT_NE(std::string(e.what()).find("/dev/sda1 is mounted"), std::string::npos);
  }
}

}  // namespace
