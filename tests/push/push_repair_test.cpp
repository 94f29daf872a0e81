// Verify and repair: blocks that read back wrong are re-sent from the image
// (only those), made durable and read back again, in bounded rounds; a block
// that reads back wrong every time fails the push naming its byte range.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "base/subprocess.h"
#include "protocol/boot_layout.h"
#include "testing/push_fixture.h"

using namespace mktest;
using namespace std::chrono_literals;

namespace {

constexpr uint64_t kMiB = 1 << 20;


// Plays a disk whose reads of `at` come back wrong: the first `times`
// reads covering it (-1: every one).
struct BadRead {
  uint64_t at = 0;
  int times = -1;
  std::atomic<int> seen{0};
  void operator()(uint64_t off, std::span<uint8_t> bytes) {
    if (at < off || at >= off + bytes.size()) return;
    if (times >= 0 && seen >= times) return;
    ++seen;
    bytes[at - off] ^= 0x01;
  }
};

std::string range(uint64_t a, uint64_t b) { return "[" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

}  // namespace

class PushRepair : public PushTest {
 protected:
  // The agent again, with VERIFY's reads passing through `bad`.
  void agent_with(BadRead& bad) {
    agent_.reset();
    agent::AgentConfig cfg;
    cfg.listen = "127.0.0.1:0";
    cfg.key = key_;
    cfg.allow_file = true;
    cfg.name = "target-agent repair-test";
    cfg.verify_read_hook = [&bad](uint64_t off, std::span<uint8_t> bytes) { bad(off, bytes); };
    agent_ = std::make_unique<agent::Server>(cfg);
    agent_->start();
  }
  // Counts the repair rounds the push reported.
  push::PushOptions counting(push::PushOptions o) {
    o.on_progress = [this, inner = o.on_progress](const push::Progress& p) {
      if (p.kind == push::Progress::Kind::kVerify && p.message.rfind("repair round", 0) == 0) ++rounds_;
      if (inner) inner(p);
    };
    return o;
  }
  int rounds_ = 0;
};

// Two blocks are corrupted on the "disk" between FINISHED and VERIFY, one of
// them the first (the boot sectors): both are re-sent, alone, and the push
// ends verified, naming them.
TEST_F(PushRepair, BlocksCorruptedBehindTheAgentsBackAreResentAndVerified) {
  auto image = make_sparse_image(8 * kMiB, 5);
  image[100] = 0x11;  // make sure both bytes are data
  image[5 * kMiB + 4321] = 0x22;
  write_file(path("img.raw"), image);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 0xee));
  auto o = options(path("img.raw"), path("disk"));
  bool corrupted = false;
  o.verify_overlap = mkproto::VerifyOverlap::kAfterFinish;  // the disk changes between FINISHED and VERIFY
  o.on_progress = [&](const push::Progress& p) {
    if (p.kind != push::Progress::Kind::kVerify || corrupted) return;
    corrupted = true;
    flip_byte(path("disk"), 100);
    flip_byte(path("disk"), 5 * kMiB + 4321);
  };
  const auto r = push::push_image(counting(o));
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(read_file(path("disk")), image);
  using R = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(r.repaired, (std::vector<R>{{0, kMiB}, {5 * kMiB, 6 * kMiB}}));
  EXPECT_EQ(r.repair_rounds, 1);
  EXPECT_EQ(rounds_, 1);
  EXPECT_GT(r.repair_bytes_sent, 0u);
  EXPECT_LE(r.repair_bytes_sent, 2 * kMiB);  // the two blocks' data, nothing else
  EXPECT_NE(r.verify_message.find("after repairing [0, 1048576) and [5242880, 6291456)"), std::string::npos)
      << r.verify_message;
  EXPECT_EQ(r.image_reads, 2);  // the push's read, and one for the repair
}

TEST_F(PushRepair, ABlockThatReadsBackWrongEveryTimeFailsNamingItsRange) {
  auto image = make_sparse_image(6 * kMiB, 6);
  const uint64_t at = 3 * kMiB + 777;
  image[at] = 0x33;
  write_file(path("img.raw"), image);
  BadRead bad;
  bad.at = at;
  agent_with(bad);
  for (int attempts : {0, 2, 3}) {
    SCOPED_TRACE(attempts);
    write_file(path("disk"), std::vector<uint8_t>(image.size(), 0xee));
    bad.seen = 0;
    rounds_ = 0;
    auto o = counting(options(path("img.raw"), path("disk")));
    o.repair_attempts = attempts;
    try {
      push::push_image(o);
      FAIL() << "a block that never reads back right passed verify";
    } catch (const mkproto::ProtocolError& e) {
      EXPECT_EQ(e.code, mkproto::ErrorCode::kVerifyMismatch);
      const std::string want = attempts == 0 ? "first bad range " + range(3 * kMiB, 4 * kMiB)
                                             : "bad range " + range(3 * kMiB, 4 * kMiB) +
                                                   " of " + path("disk") + " still reads back wrong after " +
                                                   std::to_string(attempts) + " repair rounds";
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
    EXPECT_EQ(rounds_, attempts);
    EXPECT_EQ(bad.seen, attempts + 1);  // each round read the block back once more
    EXPECT_EQ(read_file(path("disk")), image);  // the writes were right; the reads lie
  }
}

// With --delta only the changed 4 KiB travels at first; a written block that
// then reads back wrong is re-sent as its whole verify block, and the
// unchanged blocks stay out of the read-back.
TEST_F(PushRepair, DeltaRepairsAWrittenBlock) {
  auto image = make_sparse_image(8 * kMiB, 7);
  write_file(path("img.raw"), image);
  write_file(path("disk"), image);
  const uint64_t changed = 6 * kMiB + 4096 * 5 + 9;
  image[changed] ^= 0x55;
  write_file(path("img.raw"), image);
  auto o = options(path("img.raw"), path("disk"));
  o.delta = true;
  bool corrupted = false;
  o.verify_overlap = mkproto::VerifyOverlap::kAfterFinish;  // the disk changes between FINISHED and VERIFY
  o.on_progress = [&](const push::Progress& p) {
    if (p.kind != push::Progress::Kind::kVerify || corrupted) return;
    corrupted = true;
    flip_byte(path("disk"), changed);  // the write is lost behind the agent's back
  };
  const auto r = push::push_image(o);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_EQ(r.repaired, (std::vector<std::pair<uint64_t, uint64_t>>{{6 * kMiB, 7 * kMiB}}));
  // The changed block, and the boot sectors: OPEN wiped them, so their
  // delta hashes no longer match and they are sent again.
  EXPECT_GE(r.bytes_sent, 4096u + r.repair_bytes_sent);
  EXPECT_LE(r.bytes_sent, 4096u + mkproto::kBootHeadBytes + (16u << 10) + 512 + r.repair_bytes_sent);
  EXPECT_LE(r.repair_bytes_sent, kMiB);
  EXPECT_NE(r.verify_message.find("checked by their delta hash"), std::string::npos) << r.verify_message;
}

// A .gz cannot seek: the repair decompresses it once, and the next round
// re-sends from what that read kept instead of decompressing again. The
// disk really is wrong (a byte flipped), so each round's bytes must land.
TEST_F(PushRepair, CompressedSourceIsReadOnceForAllRounds) {
  auto image = make_sparse_image(6 * kMiB, 8);
  const uint64_t at = 4 * kMiB + 1;
  image[at] = 0x44;
  write_file(path("img.raw"), image);
  ASSERT_EQ(std::system(("gzip -kf -1 " + path("img.raw")).c_str()), 0);
  BadRead bad;
  bad.at = at;
  bad.times = 2;  // wrong in the first verify and the first repair round
  agent_with(bad);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 0xee));
  auto o = options(path("img.raw.gz"), path("disk"));
  bool corrupted = false;
  o.verify_overlap = mkproto::VerifyOverlap::kAfterFinish;  // the disk changes between FINISHED and VERIFY
  o.on_progress = [&](const push::Progress& p) {
    if (p.kind != push::Progress::Kind::kVerify || corrupted) return;
    corrupted = true;
    flip_byte(path("disk"), at + 1);  // so the rounds must write the image's bytes back
  };
  const auto r = push::push_image(o);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_EQ(r.repair_rounds, 2);
  EXPECT_EQ(r.repaired, (std::vector<std::pair<uint64_t, uint64_t>>{{4 * kMiB, 5 * kMiB}}));
  EXPECT_EQ(r.image_reads, 2);
}

// `mkmaster push` reports the repair in its summary and --json; with
// --repair-attempts 0 the same disk fails the push.
TEST_F(PushRepair, CliReportsRepairedRangesAndCanTurnRepairOff) {
  auto image = make_sparse_image(4 * kMiB, 9);
  image[2 * kMiB + 5] = 0x55;
  write_file(path("img.raw"), image);
  BadRead bad;
  bad.at = 2 * kMiB + 5;
  bad.times = 1;
  agent_with(bad);
  const std::string secret = "push integration test secret\n";
  write_file(path("secret"), std::vector<uint8_t>(secret.begin(), secret.end()));
  auto argv = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {MKMASTER_BIN, "push", path("img.raw"), "--agent", agent_->address(),
                                  "--secret-file", path("secret"), "--target", path("disk")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  for (bool json : {true, false}) {
    bad.seen = 0;
    write_file(path("disk"), std::vector<uint8_t>(image.size(), 0xee));
    auto r = base::run_process(argv(json ? std::vector<std::string>{"--json"} : std::vector<std::string>{}), {}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    if (json)
      EXPECT_NE(r.output.find("\"repaired\":[[2097152,3145728]],\"repair_rounds\":1,"), std::string::npos) << r.output;
    else
      EXPECT_NE(r.output.find("  repaired     [2097152, 3145728) ("), std::string::npos) << r.output;
  }
  bad.seen = 0;
  auto r = base::run_process(argv({"--repair-attempts", "0"}), {}, 60s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("verify failed: first bad range [2097152, 3145728)"), std::string::npos) << r.output;
}

// The overlapped read-back (the default on a disk that does not spin): a
// block that reads back wrong once, in the middle and in the boot sectors'
// block (read after FINISH), is repaired as after a read-back at the end.
TEST_F(PushRepair, TheOverlappedReadBackCatchesAndRepairsToo) {
  auto image = make_sparse_image(40 * kMiB, 9);
  image[50] = 0x44;
  image[20 * kMiB + 9] = 0x55;
  write_file(path("img.raw"), image);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 0xee));
  BadRead mid, head;
  mid.at = 20 * kMiB + 9;
  mid.times = head.times = 1;
  head.at = 50;
  agent_.reset();
  agent::AgentConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.key = key_;
  cfg.allow_file = true;
  cfg.verify_read_hook = [&](uint64_t off, std::span<uint8_t> bytes) {
    mid(off, bytes);
    head(off, bytes);
  };
  agent_ = std::make_unique<agent::Server>(cfg);
  agent_->start();
  auto o = counting(options(path("img.raw"), path("disk")));
  o.verify_overlap = mkproto::VerifyOverlap::kAlways;
  const auto r = push::push_image(o);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_TRUE(r.verify_overlapped);
  EXPECT_NE(r.verify_message.find("while the image streamed"), std::string::npos) << r.verify_message;
  using R = std::pair<uint64_t, uint64_t>;
  EXPECT_EQ(r.repaired, (std::vector<R>{{0, kMiB}, {20 * kMiB, 21 * kMiB}}));
  EXPECT_EQ(rounds_, 1);
  EXPECT_EQ(read_file(path("disk")), image);
}
