// Dropped connections: the push reconnects and continues from the
// acknowledged watermark; the result equals the image and verifies.
#include "testing/fault_proxy.h"
#include "testing/push_fixture.h"

using namespace mktest;

class PushResume : public PushTest {};

TEST_F(PushResume, ManyDropsAllResume) {
  auto image = make_sparse_image(64 << 20, 10);
  write_file(path("img.raw"), image);
  std::vector<uint8_t> g(image.size(), 0x77);
  write_file(path("disk"), g);
  // Cut each of the first 20 connections after ~1.1 MiB (more than one
  // 1 MiB DATA frame, so each makes progress), plus one during the
  // handshake.
  std::vector<Fault> cuts = {Fault::drop(100)};
  for (int i = 0; i < 20; ++i) cuts.push_back(Fault::drop((1100u << 10) + 4099u * i));
  FaultProxy proxy(agent_->address(), cuts);
  auto o = options(path("img.raw"), path("disk"));
  o.agent.agent = proxy.address();
  o.retries = 3;
  std::vector<uint64_t> resumed_at;
  auto r = push::push_image(o);
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_GE(proxy.applied(), 20);
  EXPECT_EQ(r.reconnects, proxy.applied());
  // Resumed, not restarted: far less than 21 full images were sent.
  EXPECT_LT(r.bytes_sent, 2 * image.size());
}

TEST_F(PushResume, EveryFlippedBitIsDetectedAndRepaired) {
  auto image = make_sparse_image(24 << 20, 12);
  write_file(path("img.raw"), image);
  write_file(path("disk"), std::vector<uint8_t>(image.size(), 0x77));
  // One flipped bit in each of the first 8 connections, in headers and
  // payloads alike (offsets chosen past the ~200-byte handshake).
  std::vector<Fault> flips;
  for (int i = 0; i < 8; ++i) flips.push_back(Fault::flip(300 + 150001u * static_cast<uint64_t>(i)));
  FaultProxy proxy(agent_->address(), flips);
  auto o = options(path("img.raw"), path("disk"));
  o.agent.agent = proxy.address();
  auto r = push::push_image(o);
  EXPECT_EQ(proxy.applied(), 8);
  EXPECT_EQ(r.reconnects, 8);  // each flip was caught and cost one reconnect
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_TRUE(r.verified) << r.verify_message;
}

// The agent hashes while the image streams, so a drop can come before all
// hashes have arrived. The next connection asks only for the missing ones:
// blocks already written must keep the decision made from the target as it
// was, or the host and the agent would disagree on what VERIFY leaves out.
TEST_F(PushResume, DeltaResumesWhileHashesAreStillArriving) {
  auto image = make_sparse_image(96u << 20, 31);
  write_file(path("img.raw"), image);
  auto disk = image;
  for (size_t mib = 1; mib < 96; mib += 2) disk[(mib << 20) + 12345] ^= 0x5a;  // every other MiB differs
  for (size_t i = 0; i < (4u << 20); ++i) disk[i] ^= 0x33;                       // and the first 4 MiB
  write_file(path("disk"), disk);
  // Early cuts: the first connections drop while HASHES are still coming.
  std::vector<Fault> cuts = {Fault::drop((600u << 10) + 1234), Fault::drop((700u << 10) + 4321),
                             Fault::drop((900u << 10) + 77)};
  FaultProxy proxy(agent_->address(), cuts);
  auto o = options(path("img.raw"), path("disk"));
  o.agent.agent = proxy.address();
  o.delta = true;
  auto r = push::push_image(o);
  EXPECT_GE(proxy.applied(), 1);
  EXPECT_EQ(r.reconnects, proxy.applied());
  EXPECT_TRUE(r.verified) << r.verify_message;
  EXPECT_EQ(read_file(path("disk")), image);
  EXPECT_GT(r.kept_bytes, image.size() / 3);
}
