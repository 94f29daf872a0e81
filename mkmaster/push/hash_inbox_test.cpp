#include "mkmaster/push/hash_inbox.h"

#include <gtest/gtest.h>

#include <thread>

#include "protocol/errors.h"

using namespace std::chrono_literals;

namespace {

std::vector<uint64_t> iota_hashes(uint64_t first, size_t n) {
  std::vector<uint64_t> h(n);
  for (size_t i = 0; i < n; ++i) h[i] = first + i;
  return h;
}

}  // namespace

TEST(HashInbox, WindowsArriveInOrderAndCompleteWithTheLastEnd) {
  push::HashInbox in(4096, 1s, mkproto::DeltaKey{});
  in.expect(8 * 4096);
  in.expect(16 * 4096);  // a second window before the first is answered
  in.add(0, iota_hashes(0, 8));
  in.end();
  EXPECT_FALSE(in.complete()) << "the second window is still due";
  EXPECT_EQ(in.at(7), 7u);
  in.add(8 * 4096, iota_hashes(8, 8));
  in.end();
  EXPECT_TRUE(in.complete());
  EXPECT_EQ(in.at(15), 15u);
  EXPECT_THROW(in.at(16), std::logic_error);
}

TEST(HashInbox, RefusesHashesOutOfOrderOrBeyondTheRequest) {
  push::HashInbox in(4096, 1s, mkproto::DeltaKey{});
  in.expect(4 * 4096);
  EXPECT_THROW(in.add(4096, iota_hashes(0, 1)), mkproto::ProtocolError);
  EXPECT_THROW(in.add(0, iota_hashes(0, 5)), mkproto::ProtocolError);
  in.add(0, iota_hashes(0, 3));
  EXPECT_THROW(in.end(), mkproto::ProtocolError) << "one hash short";
  push::HashInbox none(4096, 1s, mkproto::DeltaKey{});
  EXPECT_THROW(none.end(), mkproto::ProtocolError) << "HASHES_END without a request";
}

TEST(HashInbox, RestartKeepsWhatArrivedAndForgetsTheUnansweredRequests) {
  push::HashInbox in(4096, 1s, mkproto::DeltaKey{});
  in.expect(10 * 4096);
  in.add(0, iota_hashes(0, 6));
  EXPECT_EQ(in.restart(), 6u * 4096);
  EXPECT_EQ(in.requested(), 6u * 4096);
  in.expect(10 * 4096);  // asked again on the new connection
  in.add(6 * 4096, iota_hashes(6, 4));
  in.end();
  EXPECT_TRUE(in.complete());
  EXPECT_EQ(in.at(9), 9u);
}

TEST(HashInbox, AtWaitsForAHashAndTimesOut) {
  push::HashInbox in(4096, 200ms, mkproto::DeltaKey{});
  in.expect(2 * 4096);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    in.add(0, iota_hashes(40, 1));
  });
  EXPECT_EQ(in.at(0), 40u);
  t.join();
  EXPECT_THROW(in.at(1), mkproto::ConnectionClosed);
}
