// `mkmaster push` as a user runs it: the real binary against the in-process
// agent, its --json events and summary, its human summary, its errors.
#include <regex>
#include <sstream>

#include "base/subprocess.h"
#include "testing/push_fixture.h"

using namespace mktest;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> json_lines(const std::string& out) {
  std::vector<std::string> v;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() == '{') v.push_back(line);
  return v;
}

}  // namespace

class PushCli : public PushTest {
 protected:
  std::vector<std::string> argv(const std::vector<std::string>& extra) {
    write_file(path("secret"), std::vector<uint8_t>(kSecret.begin(), kSecret.end()));
    std::vector<std::string> a = {MKMASTER_BIN, "push", path("img.raw"), "--agent", agent_->address(),
                                  "--secret-file", path("secret"), "--target", path("disk")};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  static inline const std::string kSecret = "push integration test secret\n";
};

TEST_F(PushCli, JsonEventsEndWithASummaryAndADeltaReflashSaysWhatItKept) {
  auto image = make_sparse_image(12 << 20, 51);
  write_file(path("img.raw"), image);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 7));
  auto r = base::run_process(argv({"--json"}), {}, 120s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto lines = json_lines(r.output);
  ASSERT_GE(lines.size(), 2u) << r.output;
  EXPECT_NE(lines.front().find("\"event\":\"start\""), std::string::npos) << lines.front();
  const std::string& sum = lines.back();
  EXPECT_NE(sum.find("\"event\":\"summary\""), std::string::npos) << sum;
  EXPECT_NE(sum.find("\"image_size\":" + std::to_string(image.size())), std::string::npos) << sum;
  EXPECT_NE(sum.find("\"verified\":true"), std::string::npos) << sum;
  EXPECT_NE(sum.find("\"phases_s\":{\"stream\":"), std::string::npos) << sum;
  EXPECT_EQ(read_file(path("disk")), image);

  image[5 << 20] ^= 0x42;  // one block changes
  write_file(path("img.raw"), image);
  r = base::run_process(argv({"--json", "--delta"}), {}, 120s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  lines = json_lines(r.output);
  ASSERT_FALSE(lines.empty()) << r.output;
  // The changed block and the boot sectors (wiped at OPEN, so re-sent).
  std::smatch sent;
  ASSERT_TRUE(std::regex_search(lines.back(), sent, std::regex("\"bytes_sent\":(\\d+),"))) << lines.back();
  EXPECT_GE(std::stoull(sent[1]), 4096u);
  EXPECT_LE(std::stoull(sent[1]), 4096u + (1u << 20) + (16u << 10) + 512) << lines.back();
  EXPECT_NE(lines.back().find("checked by their delta hash"), std::string::npos) << lines.back();
  EXPECT_EQ(read_file(path("disk")), image);
}

TEST_F(PushCli, HumanSummaryAndClearErrors) {
  auto image = make_sparse_image(4 << 20, 52);
  write_file(path("img.raw"), image);
  write_file(path("disk"), std::vector<uint8_t>(image.size()));
  auto r = base::run_process(argv({}), {}, 120s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pushed to " + path("disk")), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("verify       ok"), std::string::npos) << r.output;

  // A missing image: non-zero exit, the path in the message, an error event.
  auto a = argv({"--json"});
  a[2] = path("no-such.img");
  r = base::run_process(a, {}, 60s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find(path("no-such.img")), std::string::npos) << r.output;
  // --verify-all without --delta is allowed; with --no-verify it is refused.
  r = base::run_process(argv({"--no-verify", "--verify-all"}), {}, 60s);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("excludes"), std::string::npos) << r.output;
}
