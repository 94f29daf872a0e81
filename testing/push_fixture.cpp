#include "testing/push_fixture.h"

#include <random>

namespace mktest {

std::vector<uint8_t> make_sparse_image(size_t size, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> img(size, 0);
  // ~40 % data in runs of 4..260 KiB, the rest zero.
  for (size_t at = 0; at < size;) {
    size_t run = (4 + rng() % 256) << 10;
    bool data = rng() % 10 < 4;
    for (size_t i = at; i < std::min(size, at + run) && data; ++i) img[i] = static_cast<uint8_t>(rng() | 1);
    at += run;
  }
  return img;
}

void PushTest::SetUp() {
  agent::AgentConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.key = key_;
  cfg.allow_file = true;
  // pull/put/exec tests: everything the agent can offer, under the test dir.
  cfg.allow_exec = true;
  cfg.files_root = dir_.path();
  cfg.name = "target-agent push-test";
  agent_ = std::make_unique<agent::Server>(cfg);
  agent_->start();
}

// The agent goes before the directory it writes into (a member, removed
// with the fixture).
void PushTest::TearDown() { agent_.reset(); }

push::PushOptions PushTest::options(const std::string& image, const std::string& target) {
  push::PushOptions o;
  o.image = image;
  o.agent.agent = agent_->address();
  o.agent.key = key_;
  o.agent.io_timeout = std::chrono::seconds(30);
  o.target = target;
  o.backoff = std::chrono::milliseconds(20);
  return o;
}

}  // namespace mktest
