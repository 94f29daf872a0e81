#include "base/read_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>

namespace base {
namespace {

class ReadFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/base-read-file-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    ::unlink((dir_ + "/f").c_str());
    ::rmdir(dir_.c_str());
  }
  std::string write(const std::string& bytes) {
    std::ofstream(dir_ + "/f", std::ios::binary) << bytes;
    return dir_ + "/f";
  }
  std::string dir_;
};

TEST_F(ReadFile, ReturnsEveryByte) {
  std::string big(300000, 'x');
  big[7] = '\0';
  big.back() = '\n';
  EXPECT_EQ(read_file(write(big)), big);
  EXPECT_EQ(read_file(write("")), "");
}

TEST_F(ReadFile, ReadsFilesThatReportNoSize) {
  auto s = read_file("/proc/self/status");
  ASSERT_TRUE(s);
  EXPECT_NE(s->find("Pid:"), std::string::npos);
}

TEST_F(ReadFile, FailureSetsErrno) {
  errno = 0;
  EXPECT_EQ(read_file(dir_ + "/missing"), std::nullopt);
  EXPECT_EQ(errno, ENOENT);
  errno = 0;
  EXPECT_EQ(read_file(dir_), std::nullopt);
  EXPECT_EQ(errno, EISDIR);
}

}  // namespace
}  // namespace base
