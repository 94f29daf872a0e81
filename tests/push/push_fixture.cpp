#include "tests/push/push_fixture.h"

#include <fstream>
#include <random>

namespace push_test {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::vector<uint8_t> make_image(size_t size, uint32_t seed) {
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
  std::string tmpl = (std::filesystem::temp_directory_path() / "push-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  dir_ = tmpl;
  agent::AgentConfig cfg;
  cfg.listen = "127.0.0.1:0";
  cfg.key = key_;
  cfg.allow_file = true;
  cfg.name = "target-agent push-test";
  agent_ = std::make_unique<agent::Server>(cfg);
  agent_->start();
}

void PushTest::TearDown() {
  agent_.reset();
  std::filesystem::remove_all(dir_);
}

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

}  // namespace push_test
