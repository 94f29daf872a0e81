#pragma once
// An in-process target-agent on 127.0.0.1 (writing files) plus helpers to
// build images and push them with push::push_image.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "mkmaster/push/push.h"
#include "target-agent/server.h"

namespace push_test {

std::vector<uint8_t> read_file(const std::string& path);
void write_file(const std::string& path, const std::vector<uint8_t>& data);

// A sparse-ish image: random data extents separated by zero runs.
std::vector<uint8_t> make_image(size_t size, uint32_t seed);

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  push::PushOptions options(const std::string& image, const std::string& target);
  mkproto::Key key_ = mkproto::derive_key("push integration test secret");
  std::filesystem::path dir_;
  std::unique_ptr<agent::Server> agent_;
};

}  // namespace push_test
