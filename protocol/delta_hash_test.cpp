#include "protocol/delta_hash.h"

#include <gtest/gtest.h>

#include <vector>

#include "protocol/checksum.h"
#include "protocol/session_keys.h"

using namespace mkproto;

namespace {
const Key kKey = derive_key("delta hash test secret 0123");
}  // namespace

TEST(DeltaHash, KeyedAndSensitiveToEveryByte) {
  std::vector<uint8_t> block(4096, 0);
  auto k1 = derive_delta_key(kKey, SessionId{1}), k2 = derive_delta_key(kKey, SessionId{2});
  uint64_t h = delta_hash(k1, block.data(), block.size());
  EXPECT_EQ(h, delta_hash(k1, block.data(), block.size()));
  EXPECT_NE(h, delta_hash(k2, block.data(), block.size()));  // an earlier session's hash says nothing now
  EXPECT_NE(h, xxh3_64(block.data(), block.size()));
  for (size_t i : {size_t{0}, size_t{1}, size_t{2047}, size_t{4095}}) {
    auto b = block;
    b[i] = 1;
    EXPECT_NE(h, delta_hash(k1, b.data(), b.size())) << i;
  }
  EXPECT_NE(h, delta_hash(k1, block.data(), block.size() - 1));
}
