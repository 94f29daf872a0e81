#pragma once
// An in-process target-agent on 127.0.0.1 (writing files) plus helpers to
// build images and push them with push::push_image.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mkmaster/push/push.h"
#include "target-agent/server.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace mktest {

// A sparse-ish image: random data extents separated by zero runs.
std::vector<uint8_t> make_sparse_image(size_t size, uint32_t seed);

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  std::string path(const std::string& name) const { return dir_.file(name); }
  push::PushOptions options(const std::string& image, const std::string& target);
  mkproto::Key key_ = mkproto::derive_key("push integration test secret");
  TempDir dir_{"push-test"};
  std::unique_ptr<agent::Server> agent_;
};

}  // namespace mktest
