// Refusals seen from the host: wrong secret and an image larger than the
// target write nothing and are not retried.
#include "testing/push_fixture.h"

using namespace mktest;

class PushRefuse : public PushTest {};

TEST_F(PushRefuse, WrongSecretWritesNothing) {
  auto image = make_sparse_image(2 << 20, 7);
  write_file(path("img.raw"), image);
  std::vector<uint8_t> before(image.size(), 0x5a);
  write_file(path("disk"), before);
  auto o = options(path("img.raw"), path("disk"));
  o.agent.key = mkproto::derive_key("definitely not the agent's secret");
  try {
    push::push_image(o);
    FAIL();
  } catch (const mkproto::ProtocolError& e) {
    EXPECT_EQ(e.code, mkproto::ErrorCode::kAuthFailed) << e.what();
  }
  EXPECT_EQ(read_file(path("disk")), before);
}

TEST_F(PushRefuse, ImageLargerThanTargetRefusedBeforeTheFirstWrite) {
  auto image = make_sparse_image(2 << 20, 8);
  write_file(path("img.raw"), image);
  std::vector<uint8_t> before(image.size() - 4096, 0x5a);
  write_file(path("disk"), before);
  try {
    push::push_image(options(path("img.raw"), path("disk")));
    FAIL();
  } catch (const mkproto::ProtocolError& e) {
    EXPECT_EQ(e.code, mkproto::ErrorCode::kImageTooLarge) << e.what();
    EXPECT_NE(std::string(e.what()).find("image is 2097152 bytes, target is only 2093056"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_file(path("disk")), before);
}

TEST_F(PushRefuse, NoAgentListeningGivesUpAfterTheRetries) {
  auto image = make_sparse_image(1 << 20, 9);
  write_file(path("img.raw"), image);
  auto o = options(path("img.raw"), path("disk"));
  o.agent.agent = "127.0.0.1:1";  // nothing listens on port 1
  o.retries = 2;
  try {
    push::push_image(o);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("gave up after 3 attempts"), std::string::npos) << e.what();
  }
}
