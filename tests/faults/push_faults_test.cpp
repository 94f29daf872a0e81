// A push of the mkmaster binary to the target-agent binary through the
// fault proxy: >= 20 dropped connections and bit flips in
// the host->agent stream. Every drop must resume (from the acknowledged
// watermark, not from zero), every flip must be detected (the connection is
// ended by an endpoint, and the push reconnects), and the target must end
// up equal to the image.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "testing/child.h"
#include "testing/fault_proxy.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace mktest {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Half the 64 KiB chunks random data, the rest zeros (holes to zero out).
std::string make_image(size_t size, uint32_t seed) {
  std::string img(size, '\0');
  std::mt19937_64 rng(seed);
  for (size_t off = 0; off < size; off += 64 * 1024) {
    if (rng() % 100 >= 55) continue;
    for (size_t i = off; i < std::min(size, off + 64 * 1024); ++i) img[i] = static_cast<char>(rng() | 1);
  }
  return img;
}

// Reads child output lines until `re` matches one; returns the first group.
std::string wait_for_line(Child& c, const std::regex& re, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string line;
  while (std::chrono::steady_clock::now() < deadline) {
    char ch;
    ssize_t n = read(c.stdout_fd, &ch, 1);
    if (n <= 0) break;
    if (ch != '\n') {
      line += ch;
      continue;
    }
    std::smatch m;
    if (std::regex_search(line, m, re)) return m[1];
    line.clear();
  }
  throw std::runtime_error("child did not print the expected line");
}

int count(const std::string& s, const std::string& needle) {
  int n = 0;
  for (size_t at = s.find(needle); at != std::string::npos; at = s.find(needle, at + 1)) ++n;
  return n;
}

uint64_t json_number(const std::string& line, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex("\"" + key + "\":(\\d+)"))) return UINT64_MAX;
  return std::stoull(m[1]);
}

TEST(PushFaults, TwentyDropsAndBitFlipsResumeAndAreDetected) {
  TempDir dir("mkmaster-faults");
  const size_t kSize = 48u << 20;
  const std::string image = make_image(kSize, 5);
  write_file(dir.file("image.raw"), image);
  // The target starts as garbage: holes must be zeroed, not left stale.
  std::string garbage(kSize, '\0');
  std::mt19937_64 rng(9);
  for (auto& ch : garbage) ch = static_cast<char>(rng());
  write_file(dir.file("target.img"), garbage);
  write_file(dir.file("secret"), "faults-test-secret-0123456789abcdef\n");

  Child agent = spawn({"sh", "-c",
                       std::string("exec '") + TARGET_AGENT + "' serve --listen 127.0.0.1:0 --secret-file " +
                           dir.file("secret") + " --target " + dir.file("target.img") + " --allow-file 2>&1"});
  std::string agent_addr = wait_for_line(agent, std::regex("listening on (\\S+)"), 20s);

  const int kDrops = 20, kFlips = 10;
  const uint64_t kMaxGap = 2u << 20;
  FaultProxy proxy(agent_addr, seeded_faults(42, kDrops, kFlips, 4096, kMaxGap));
  Child push = spawn({MKMASTER, "push", dir.file("image.raw"), "--agent", proxy.address(),
                      "--secret-file", dir.file("secret"), "--target", dir.file("target.img"), "--json", "--retries",
                      "20"},
                     dir.file("push.stderr"));
  std::string events = push.read_all_stdout();  // until mkmaster exits
  auto rc = push.wait(240s);
  ASSERT_TRUE(rc.has_value()) << "push did not finish in time";
  ASSERT_EQ(*rc, 0) << events << slurp(dir.file("push.stderr"));

  // The proxy really did its damage.
  int drops = proxy.applied(Fault::kDrop), flips = proxy.applied(Fault::kFlip);
  EXPECT_EQ(drops, kDrops);
  EXPECT_EQ(flips, kFlips);

  // Every flip detected: each flipped connection was ended by an endpoint
  // (the agent rejecting the frame), never carried on to a clean finish.
  int flipped_conns = 0;
  for (const auto& c : proxy.connections()) {
    if (!c.fault || c.fault->kind != Fault::kFlip) continue;
    ++flipped_conns;
    EXPECT_NE(c.closed_by, ConnectionLog::kProxy);
  }
  EXPECT_EQ(flipped_conns, kFlips);

  // Every fault cost exactly one reconnect, and each resumed.
  int reconnects = count(events, "\"event\":\"reconnect\"");
  EXPECT_GE(reconnects, drops + flips) << events;
  auto summary_at = events.rfind("\"event\":\"summary\"");
  ASSERT_NE(summary_at, std::string::npos) << events;
  std::string summary = events.substr(summary_at);
  EXPECT_NE(summary.find("\"verified\":true"), std::string::npos) << summary;
  // Resumed, not restarted: re-sent bytes per fault stay within what one
  // connection can carry past the watermark (fault gap + a verify block +
  // frames in flight).
  uint64_t data = 0;  // the image's non-zero bytes (all of a data chunk is non-zero)
  for (char ch : image) data += ch != 0;
  uint64_t sent = json_number(summary, "bytes_sent");
  EXPECT_GE(sent, data);
  EXPECT_LE(sent, data + static_cast<uint64_t>(drops + flips) * (kMaxGap + (6u << 20))) << summary;

  std::cout << "faults: " << drops << " drops, " << flips << " flips; " << reconnects << " reconnects\n"
            << summary;
  for (const char* why : {"bad-mac", "bad-checksum", "bad-magic", "malformed", "bad-sequence", "frame-too-large", "connection"})
    std::cout << "  reconnect reason " << why << ": " << count(events, why) << "\n";

  // And the target is the image, byte for byte (holes zeroed).
  std::string got = mktest::slurp(dir.file("target.img"));
  ASSERT_EQ(got.size(), image.size());
  EXPECT_TRUE(got == image) << "target differs from the image";
}

}  // namespace
}  // namespace mktest
