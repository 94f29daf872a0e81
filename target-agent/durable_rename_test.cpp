#include "target-agent/durable_rename.h"

#include <gtest/gtest.h>

#include "protocol/errors.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

using namespace mktest;

TEST(DurableRename, ReplacesTheTargetAndLeavesNoSource) {
  TempDir dir("durable-rename");
  write_file(dir.file("new.part"), std::vector<uint8_t>{1, 2, 3});
  write_file(dir.file("file"), std::vector<uint8_t>{9});
  agent::durable_rename(dir.file("new.part"), dir.file("file"));
  EXPECT_EQ(read_file(dir.file("file")), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_FALSE(std::filesystem::exists(dir / "new.part"));
}

TEST(DurableRename, AMissingSourceNamesBothPaths) {
  TempDir dir("durable-rename");
  try {
    agent::durable_rename(dir.file("absent"), dir.file("file"));
    FAIL() << "renaming a missing file succeeded";
  } catch (const mkproto::ProtocolError& e) {
    EXPECT_EQ(e.code, mkproto::ErrorCode::kIo);
    EXPECT_NE(e.detail.find(dir.file("absent")), std::string::npos) << e.detail;
    EXPECT_NE(e.detail.find(dir.file("file")), std::string::npos) << e.detail;
  }
}
