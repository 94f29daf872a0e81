// A push that fails after the agent opened the target says what of the
// image is durable and that the disk will not boot; one refused at OPEN
// (nothing written) does not.
#include <gmock/gmock.h>

#include "mkmaster/source/image_reader.h"
#include "testing/push_fixture.h"

using namespace mktest;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

// An image source that breaks after `fail_at` bytes (a disk or network
// error on the host side).
class BreakingReader : public source::ImageReader {
 public:
  BreakingReader(uint64_t size, uint64_t fail_at) : size_(size), fail_at_(fail_at) {}
  bool next(source::Extent& e) override {
    if (pos_ >= fail_at_) throw std::runtime_error("image read error at " + std::to_string(pos_));
    if (pos_ >= size_) return false;
    e = {};
    e.offset = pos_;
    e.length = std::min<uint64_t>(1u << 20, size_ - pos_);
    e.data = random_bytes(e.length, static_cast<uint32_t>(pos_ >> 20));
    pos_ += e.length;
    return true;
  }
  std::optional<uint64_t> size() const override { return size_; }
  void seek(uint64_t offset) override { pos_ = offset; }
  std::string describe() const override { return "breaking reader"; }

 private:
  uint64_t size_, fail_at_, pos_ = 0;
};

}  // namespace

class PushBootSafe : public PushTest {};

TEST_F(PushBootSafe, AFailureAfterOpenSaysTheDiskWillNotBoot) {
  write_file(path("disk"), random_bytes(8u << 20, 1));
  auto o = options("unused", path("disk"));
  o.open_source = [] { return std::make_unique<BreakingReader>(8u << 20, 3u << 20); };
  o.retries = 0;
  try {
    push::push_image(o);
    FAIL() << "the push succeeded with a broken source";
  } catch (const std::exception& e) {
    const std::string m = e.what();
    EXPECT_THAT(m, HasSubstr("image read error at 3145728"));
    EXPECT_THAT(m, HasSubstr("nothing of the image is durable on " + path("disk")));
    EXPECT_THAT(m, HasSubstr("the disk will not boot (its boot sectors [0, 1048576) are written last)"));
  }
}

TEST_F(PushBootSafe, ARefusalAtOpenClaimsNothing) {
  write_file(path("disk"), random_bytes(1u << 20, 2));
  auto o = options("unused", path("disk"));
  o.open_source = [] { return std::make_unique<BreakingReader>(2u << 20, 2u << 20); };  // larger than the target
  try {
    push::push_image(o);
    FAIL() << "an image larger than the target was accepted";
  } catch (const std::exception& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("image-too-large"));
    EXPECT_THAT(std::string(e.what()), Not(HasSubstr("will not boot")));
  }
}
