// Protocol v2 against an attacker on the lab network: a relay that knows the
// frame layout but not the keys relays real pushes to an in-process agent
// and forges, replays, reorders, reflects and drops frames. Each such frame
// must be refused (the relay sees the agent's ERROR and its code), nothing
// it carries may land on the target or run, and the host must end with a
// verified image or fail loudly.
#include <gtest/gtest.h>

#include <filesystem>

#include "protocol/messages.h"
#include "protocol/wire.h"
#include "testing/frame_relay.h"
#include "testing/push_fixture.h"

namespace mktest {
namespace {

using mkproto::ErrorCode;
using mkproto::FrameType;
using Bytes = std::vector<uint8_t>;
using Out = std::vector<Bytes>;

std::span<const uint8_t> tag_of(const Bytes& frame) { return std::span(frame).last(mkproto::kTagSize); }
uint32_t seq_of(const Bytes& frame) { return static_cast<uint32_t>(mkproto::get_le(frame.data() + 12, 4)); }
bool has(const std::vector<ErrorCode>& v, ErrorCode c) { return std::find(v.begin(), v.end(), c) != v.end(); }
// The XXH3 check of an unauthenticated frame, recomputed after a rewrite.
uint64_t v1_check(const Bytes& b) {
  mkproto::Hash64 h;
  h.update(b.data(), 24);
  h.update(b.data() + mkproto::kHeaderSize, b.size() - mkproto::kHeaderSize);
  return h.digest();
}

class ForgedFrames : public PushTest {
 protected:
  void SetUp() override {
    PushTest::SetUp();
    image_ = make_sparse_image(6 << 20, 77);
    write_file(path("img.raw"), image_);
    write_file(path("disk"), std::vector<uint8_t>(image_.size(), 0x77));
  }
  // Pushes through a relay running `hook`; false if the push threw.
  bool push_through(const RelayHook& hook, FrameRelay*& relay_out, bool delta = false) {
    relay_ = std::make_unique<FrameRelay>(agent_->address(), hook);
    relay_out = relay_.get();
    auto o = options(path("img.raw"), path("disk"));
    o.agent.agent = relay_->address();
    o.delta = delta;
    o.retries = 3;
    try {
      result_ = push::push_image(o);
      return true;
    } catch (const std::exception& e) {
      error_ = e.what();
      return false;
    }
  }
  void expect_image_on_target() {
    EXPECT_TRUE(read_file(path("disk")) == image_) << "the target differs from the image";
  }
  std::vector<uint8_t> image_;
  std::unique_ptr<FrameRelay> relay_;
  push::PushResult result_;
  std::string error_;
};

// The attack of the v1 report: let the push finish, swallow the host's BYE
// and use the authenticated connection. Each kind of forged frame is tried
// as the first one the agent gets.
TEST_F(ForgedFrames, AfterTheByeForgedPutFileExecAndDataAreRefused) {
  const std::string evil = path("evil"), ran = path("ran");
  struct Case {
    const char* name;
    FrameType type;
    Bytes payload;
    uint64_t offset;
  };
  std::vector<Case> cases = {
      {"PUT_FILE", FrameType::kPutFile, mkproto::encode(mkproto::PutFile{evil, 4, 0755}).payload, 0},
      {"EXEC", FrameType::kExec, mkproto::encode(mkproto::ExecMsg{{"sh", "-c", "touch " + ran}, 5}).payload, 0},
      {"DATA", FrameType::kData, Bytes(4096, 0xee), 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_file(path("disk"), std::vector<uint8_t>(image_.size(), 0x77));
    std::atomic<bool> forged{false};
    FrameRelay* relay = nullptr;
    bool ok = push_through(
        [&](const RelayFrame& f) -> Out {
          if (!f.to_agent || f.type != FrameType::kBye || forged) return {f.bytes};
          forged = true;
          // At BYE's position, in BYE's place, with BYE's tag.
          return {forge_frame(c.type, seq_of(f.bytes), c.offset, c.payload, tag_of(f.bytes)),
                  forge_frame(FrameType::kFileData, seq_of(f.bytes) + 1, 0, Bytes{'e', 'v', 'i', 'l'}, tag_of(f.bytes))};
        },
        relay);
    ASSERT_TRUE(forged);
    // The push had verified before BYE; the agent's refusal of what came
    // instead of BYE changes nothing the host reported.
    if (ok) EXPECT_TRUE(result_.verified) << result_.verify_message;
    else EXPECT_NE(error_.find("bad-mac"), std::string::npos) << error_;
    EXPECT_TRUE(has(relay->agent_errors(0), ErrorCode::kBadMac)) << "the forged frame was not refused as bad-mac";
    expect_image_on_target();
    EXPECT_FALSE(std::filesystem::exists(evil));
    EXPECT_FALSE(std::filesystem::exists(evil + ".mkmaster-part"));
    EXPECT_FALSE(std::filesystem::exists(ran));
    relay_.reset();
  }
}

// Tampering mid-stream: the 3rd DATA frame's payload replaced (header, v1
// check and tag as a relay would keep or recompute them). The agent refuses
// it, the host reconnects, resumes and verifies.
TEST_F(ForgedFrames, TamperedDataMidPushIsRefusedAndThePushResumes) {
  int data_frames = 0;
  FrameRelay* relay = nullptr;
  ASSERT_TRUE(push_through(
      [&](const RelayFrame& f) -> Out {
        if (f.connection != 0 || !f.to_agent || f.type != FrameType::kData || ++data_frames != 3) return {f.bytes};
        size_t len = f.bytes.size() - mkproto::kHeaderSize - mkproto::kTagSize;
        return {forge_frame(FrameType::kData, seq_of(f.bytes), mkproto::get_le(f.bytes.data() + 16, 8), Bytes(len, 0xee),
                            tag_of(f.bytes))};
      },
      relay))
      << error_;
  EXPECT_TRUE(has(relay->agent_errors(0), ErrorCode::kBadMac));
  EXPECT_GE(result_.reconnects, 1);
  EXPECT_TRUE(result_.verified) << result_.verify_message;
  expect_image_on_target();
}

// Forged HASHES under --delta: the relay claims every block is unchanged,
// with the unkeyed XXH3 of the image's blocks (what fooled v1). The host
// refuses the frame, reconnects, and the image lands whole.
TEST_F(ForgedFrames, ForgedHashesAreRefusedByTheHost) {
  // Half the target already right, so delta has something to keep.
  auto disk = image_;
  for (size_t i = 0; i < disk.size() / 2; ++i) disk[i] ^= 0x11;
  write_file(path("disk"), disk);
  bool forged = false;
  FrameRelay* relay = nullptr;
  ASSERT_TRUE(push_through(
      [&](const RelayFrame& f) -> Out {
        if (f.connection != 0 || f.to_agent || f.type != FrameType::kHashes || forged) return {f.bytes};
        forged = true;
        mkproto::Hashes h{0, {}};
        for (uint64_t off = 0; off < image_.size() && h.hashes.size() < mkproto::kMaxHashesPerFrame; off += 4096)
          h.hashes.push_back(mkproto::xxh3_64(image_.data() + off, 4096));
        return {forge_frame(FrameType::kHashes, seq_of(f.bytes), 0, mkproto::encode(h).payload, tag_of(f.bytes))};
      },
      relay, /*delta=*/true))
      << error_;
  EXPECT_TRUE(forged);
  EXPECT_GE(result_.reconnects, 1);
  EXPECT_TRUE(result_.verified) << result_.verify_message;
  expect_image_on_target();
}

// Real frames out of place: each refused at once, then resumed.
TEST_F(ForgedFrames, ReplayedReorderedDroppedAndReflectedFramesAreRefused) {
  struct Case {
    const char* name;
    ErrorCode want;
    std::function<Out(const RelayFrame&, Bytes& held)> act;  // on the 3rd DATA frame of connection 0
  };
  std::vector<Case> cases = {
      {"replayed", ErrorCode::kBadSequence, [](const RelayFrame& f, Bytes&) { return Out{f.bytes, f.bytes}; }},
      {"replayed with seq rewritten", ErrorCode::kBadMac,
       [](const RelayFrame& f, Bytes&) {
         auto again = f.bytes;
         mkproto::put_le(again.data() + 12, seq_of(f.bytes) + 1, 4);
         return Out{f.bytes, again};
       }},
      {"reordered", ErrorCode::kBadSequence, [](const RelayFrame& f, Bytes& held) { held = f.bytes; return Out{}; }},
      {"dropped", ErrorCode::kBadSequence, [](const RelayFrame&, Bytes&) { return Out{}; }},
      {"reflected", ErrorCode::kBadMac,
       [](const RelayFrame& f, Bytes&) {
         auto back = f.last_from_agent;  // the agent's own frame, renumbered for this direction
         mkproto::put_le(back.data() + 12, seq_of(f.bytes), 4);
         return Out{back};
       }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_file(path("disk"), std::vector<uint8_t>(image_.size(), 0x77));
    int data_frames = 0;
    Bytes held;
    FrameRelay* relay = nullptr;
    ASSERT_TRUE(push_through(
        [&](const RelayFrame& f) -> Out {
          if (f.connection != 0 || !f.to_agent) return {f.bytes};
          if (!held.empty()) {  // reordered: the held frame goes after this one
            Out out{f.bytes, held};
            held.clear();
            return out;
          }
          if (f.type != FrameType::kData || ++data_frames != 3) return {f.bytes};
          return c.act(f, held);
        },
        relay))
        << error_;
    EXPECT_TRUE(has(relay->agent_errors(0), c.want)) << "expected " << mkproto::error_name(c.want);
    EXPECT_GE(result_.reconnects, 1);
    EXPECT_TRUE(result_.verified) << result_.verify_message;
    expect_image_on_target();
    relay_.reset();
  }
}

// A v1 HELLO and a downgraded HELLO: refused, and the push fails loudly
// (neither is worth a retry) with the target untouched.
TEST_F(ForgedFrames, Version1AndDowngradedHellosAreRefused) {
  struct Case {
    const char* name;
    ErrorCode want;
    std::function<void(Bytes&)> rewrite;
  };
  std::vector<Case> cases = {
      {"v1 frame", ErrorCode::kBadVersion, [](Bytes& b) { b[4] = 1; }},
      {"min_version 1", ErrorCode::kAuthFailed, [](Bytes& b) { mkproto::put_le(b.data() + mkproto::kHeaderSize, 1, 2); }},
      {"only version 1", ErrorCode::kBadVersion,
       [](Bytes& b) {
         mkproto::put_le(b.data() + mkproto::kHeaderSize, 1, 2);
         mkproto::put_le(b.data() + mkproto::kHeaderSize + 2, 1, 2);
       }},
  };
  const auto untouched = read_file(path("disk"));
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    FrameRelay* relay = nullptr;
    bool ok = push_through(
        [&](const RelayFrame& f) -> Out {
          if (!f.to_agent || f.type != FrameType::kHello) return {f.bytes};
          auto b = f.bytes;
          c.rewrite(b);
          mkproto::put_le(b.data() + 24, v1_check(b), 8);
          return {b};
        },
        relay);
    EXPECT_FALSE(ok) << "push succeeded through a downgrading relay";
    EXPECT_NE(error_.find(mkproto::error_name(c.want)), std::string::npos) << error_;
    EXPECT_TRUE(has(relay->agent_errors(0), c.want));
    EXPECT_EQ(relay->connections(), 1) << "a refusal must not be retried";
    EXPECT_TRUE(read_file(path("disk")) == untouched);
    relay_.reset();
  }
}

}  // namespace
}  // namespace mktest
