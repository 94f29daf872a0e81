// Crash consistency of a push: the target-agent binary is SIGKILLed at
// random points of a push, 20 times. After each kill every range the host
// was told is durable holds the image's bytes, and the target has no valid
// boot sector (DOS signature, primary or backup GPT header) unless the
// image is complete on it; a new push then completes and verifies.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <regex>
#include <thread>

#include "mkmaster/push/push.h"
#include "protocol/boot_layout.h"
#include "protocol/channel.h"
#include "protocol/codec.h"
#include "protocol/handshake.h"
#include "protocol/messages.h"
#include "testing/child.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace mktest {
namespace {

using namespace std::chrono_literals;

constexpr size_t kSize = 3u << 20;  // the image fills the target: its backup GPT is the image's too
constexpr size_t kFrame = 64u << 10;
const std::string kSecret = "crash-consistency-secret-0123456789";

// A disk image as partitioning tools leave it: protective MBR signature,
// primary GPT header at LBA 1, backup GPT header in the last LBA; random
// data with zero runs between.
Bytes gpt_disk(uint32_t seed) {
  Bytes d = random_bytes(kSize, seed);
  std::mt19937 rng(seed);
  for (size_t off = 1u << 20; off < kSize - (1u << 20); off += kFrame)
    if (rng() % 3 == 0) std::fill(d.begin() + static_cast<std::ptrdiff_t>(off), d.begin() + static_cast<std::ptrdiff_t>(off + kFrame), 0);
  d[510] = 0x55;
  d[511] = 0xAA;
  std::memcpy(d.data() + 512, "EFI PART", 8);
  std::memcpy(d.data() + kSize - 512, "EFI PART", 8);
  return d;
}

bool bootable(const Bytes& d) {
  return (d[510] == 0x55 && d[511] == 0xAA) || std::memcmp(d.data() + 512, "EFI PART", 8) == 0 ||
         std::memcmp(d.data() + d.size() - 512, "EFI PART", 8) == 0;
}

bool all_zero(const Bytes& b, size_t from, size_t to) {
  return std::all_of(b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(to),
                     [](uint8_t x) { return x == 0; });
}

bool same(const Bytes& a, const Bytes& b, uint64_t from, uint64_t to) {
  return std::equal(a.begin() + static_cast<std::ptrdiff_t>(from), a.begin() + static_cast<std::ptrdiff_t>(to),
                    b.begin() + static_cast<std::ptrdiff_t>(from));
}

// The target-agent binary, as the node runs it.
struct Agent {
  Child child;
  std::string address;
  Agent(const TempDir& dir) {
    child = spawn({"sh", "-c",
                   std::string("exec '") + TARGET_AGENT + "' serve --listen 127.0.0.1:0 --secret-file " +
                       dir.file("secret") + " --target " + dir.file("disk") + " --allow-file 2>&1"});
    const std::regex re("listening on (\\S+)");
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (address.empty() && std::chrono::steady_clock::now() < deadline) {
      char ch;
      if (::read(child.stdout_fd, &ch, 1) <= 0) break;
      if (ch != '\n') {
        line += ch;
        continue;
      }
      std::smatch m;
      if (std::regex_search(line, m, re)) address = m[1];
      line.clear();
    }
    if (address.empty()) throw std::runtime_error("target-agent did not start listening");
  }
  void kill() {
    ::kill(child.pid, SIGKILL);
    ::waitpid(child.pid, nullptr, 0);
    child.pid = -1;
  }
};

struct Outcome {
  uint64_t durable = 0;  // the last watermark the agent acknowledged
  bool finished = false; // FINISHED arrived before the kill
  bool finish_sent = false;
};

// Streams the image frame by frame with a SYNC every 4 frames (so the host
// learns many watermarks) and SIGKILLs the agent after frame `kill_at`,
// `delay` later; past the last frame the kill lands during or after FINISH.
Outcome push_and_kill(Agent& agent, const Bytes& image, size_t kill_at, std::chrono::microseconds delay) {
  Outcome out;
  const size_t frames = kSize / kFrame;
  try {
    mkproto::SocketChannel ch(mkproto::tcp_connect(agent.address, 5s), 10s);
    mkproto::client_handshake(ch, mkproto::derive_key(kSecret), "crash test");
    mkproto::Open open;
    open.session = mkproto::random_session_id();
    open.image_size = kSize;
    ch.send(mkproto::encode(open));
    out.durable = mkproto::decode<mkproto::Opened>(ch.recv()).watermark;
    auto until = [&](mkproto::FrameType t) {
      for (;;) {
        mkproto::Frame f = ch.recv();
        if (f.type == mkproto::FrameType::kAck) out.durable = mkproto::decode<mkproto::Ack>(f).durable;
        if (f.type == t) return f;
      }
    };
    for (size_t k = 0; k < frames; ++k) {
      if (k == kill_at) {
        std::this_thread::sleep_for(delay);
        agent.kill();
        return out;
      }
      const uint64_t off = k * kFrame;
      if (all_zero(image, off, off + kFrame))
        ch.send(mkproto::encode(mkproto::Zero{off, kFrame}));
      else
        ch.send_raw(mkproto::FrameType::kData, 0, off, std::span(image).subspan(off, kFrame));
      if (k % 4 == 3) {
        ch.send(mkproto::encode(mkproto::Sync{}));
        until(mkproto::FrameType::kAck);
      }
    }
    ch.send(mkproto::encode(mkproto::Finish{kSize}));
    out.finish_sent = true;
    if (kill_at == frames) {  // somewhere inside FINISH: drain, sync, boot sectors, sync
      std::this_thread::sleep_for(delay);
      agent.kill();
      return out;
    }
    until(mkproto::FrameType::kFinished);
    out.finished = true;
  } catch (const std::exception&) {
    // The kill broke the connection first: what was acknowledged stands.
  }
  agent.kill();
  return out;
}

push::PushOptions push_options(const TempDir& dir, const std::string& address) {
  push::PushOptions o;
  o.image = dir.file("image");
  o.agent.agent = address;
  o.agent.key = mkproto::derive_key(kSecret);
  o.target = dir.file("disk");
  o.retries = 0;
  return o;
}

TEST(CrashConsistency, KilledAgentsNeverLeaveABootableHalfImage) {
  TempDir dir("crash");
  write_file(dir.file("secret"), kSecret + "\n");
  const Bytes image = gpt_disk(1);
  write_file(dir.file("image"), image);
  const Bytes installed = gpt_disk(2);  // an older installed system, bootable
  write_file(dir.file("disk"), installed);
  const auto layout = mkproto::boot_layout(kSize, 512);
  const auto seed = static_cast<uint32_t>(std::random_device{}());
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  const size_t frames = kSize / kFrame;
  int kills = 0, before_finish = 0, acked_ranges = 0, host_errors = 0, host_unbootable = 0;
  double resume_seconds = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    SCOPED_TRACE("kill " + std::to_string(i));
    Outcome out;
    std::string host_error;
    const Bytes old = read_file(dir.file("disk"));
    {
      Agent agent(dir);
      if (i % 4 == 3) {
        // The real host, killed under it: its error says what is durable.
        std::string err;
        std::thread host([&] {
          try {
            push::push_image(push_options(dir, agent.address));
          } catch (const std::exception& e) {
            err = e.what();
          }
        });
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
        agent.kill();
        host.join();
        host_error = err;
        out.finished = err.empty();
      } else {
        const size_t kill_at = rng() % (frames + 2);
        out = push_and_kill(agent, image, kill_at, std::chrono::microseconds(rng() % 3000));
      }
      ++kills;
    }
    const Bytes disk = read_file(dir.file("disk"));
    ASSERT_EQ(disk.size(), kSize);
    // What the agent acknowledged is on the disk, the boot sectors excepted
    // (they are written last, at FINISH).
    const auto [a, b] = layout.outside(0, out.durable);
    if (a < b) ++acked_ranges;
    EXPECT_TRUE(same(disk, image, a, b)) << "acknowledged range [" << a << ", " << b << ") is not on the disk";
    if (bootable(disk)) {
      // The whole new image; or, killed before OPENED reached the host, the
      // old system, at most without its backup GPT (the wipe clears that first).
      // Or, killed inside FINISH between the backup GPT and the head, the
      // whole image but its head.
      EXPECT_TRUE(disk == image || (!host_error.empty() && same(disk, old, 0, layout.tail_begin)) ||
                  (out.finish_sent && same(disk, image, layout.head_end, kSize)))
          << "a valid boot sector on an incomplete image";
    }
    if (!out.finish_sent && host_error.empty() && !out.finished) {
      ++before_finish;
      EXPECT_FALSE(bootable(disk)) << "bootable after a kill before FINISH";
    }
    if (out.finished) {
      EXPECT_TRUE(disk == image);
    }
    if (!host_error.empty()) {
      ++host_errors;
      // Killed after FINISHED: the whole image, unverified.
      if (host_error.find("but not verified") != std::string::npos) {
        EXPECT_TRUE(disk == image) << host_error;
      } else if (host_error.find("the disk will not boot") == std::string::npos) {
        // Killed before OPEN reached the agent: then nothing was touched.
        EXPECT_TRUE(disk == old) << "the disk changed and the error does not say it will not boot: " << host_error;
      }
      if (host_error.find("the disk will not boot") != std::string::npos) ++host_unbootable;
      std::smatch m;
      const std::regex durable("durable \\[(\\d+), (\\d+)\\)");
      if (std::regex_search(host_error, m, durable)) {
        EXPECT_TRUE(same(disk, image, std::stoull(m[1]), std::stoull(m[2]))) << host_error;
      }
    }
    // A new push over whatever the kill left completes and verifies.
    const auto r0 = std::chrono::steady_clock::now();
    Agent again(dir);
    const auto r = push::push_image(push_options(dir, again.address));
    resume_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - r0).count();
    EXPECT_TRUE(r.verified) << r.verify_message;
    EXPECT_TRUE(read_file(dir.file("disk")) == image);
    again.kill();
    write_file(dir.file("disk"), installed);  // bootable again for the next kill
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GE(kills, 20);
  EXPECT_GE(before_finish, 5) << "too few kills landed mid-stream to mean anything";
  EXPECT_GE(acked_ranges, 3) << "too few kills after an acknowledged range";
  std::printf("crash consistency: %d kills (%d mid-stream, %d with acknowledged ranges, %d under the real host, %d of "
              "them saying the disk will not boot) in %.2f s (%.2f s in the pushes after them)\n",
              kills, before_finish, acked_ranges, host_errors, host_unbootable, seconds, resume_seconds);
}

}  // namespace
}  // namespace mktest
