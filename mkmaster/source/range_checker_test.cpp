#include "mkmaster/source/range_checker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mkmaster/source/image_reader.h"

namespace source {
namespace {

using ::testing::HasSubstr;

// sha256 of "abc" and of "" (FIPS 180-2 test vectors).
const std::string kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const std::string kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Fixture {
  std::vector<std::string> sums;
  RangeChecker checker{"sha256", [this](size_t i) -> const std::string& { return sums[i]; },
                       [](size_t i, const std::string& got) {
                         return RangeMismatch("range " + std::to_string(i) + " has " + got, i, i + 1);
                       }};
};

TEST(RangeChecker, MatchingRangesPassAndAMismatchIsReportedByDrain) {
  Fixture f;
  f.sums = {kAbc, kAbc, kAbc};
  const uint8_t abc[] = {'a', 'b', 'c'};
  f.checker.begin(0);
  f.checker.update(abc, 1);
  f.checker.update(abc + 1, 2);  // a range may arrive in pieces
  f.checker.end(0);
  f.checker.drain();  // no throw
  f.checker.begin(1);
  f.checker.update(abc, 2);  // "ab": wrong
  f.checker.end(1);
  try {
    f.checker.drain();
    FAIL() << "mismatch not reported";
  } catch (const SourceError& e) {
    EXPECT_THAT(e.what(), HasSubstr("range 1 has fb8e20fc2e4c3f248c60c39bd652f3c1347298bb977b8b4d5903b85055620603"));
  }
  EXPECT_THROW(f.checker.rethrow(), SourceError);  // it stays failed
}

TEST(RangeChecker, ARangeBegunAgainIsHashedFromItsNewStart) {
  Fixture f;
  f.sums = {kEmpty, kAbc};
  const uint8_t junk[] = {'x', 'y'};
  const uint8_t abc[] = {'a', 'b', 'c'};
  f.checker.begin(1);
  f.checker.update(junk, 2);  // a seek dropped this attempt
  f.checker.begin(1);
  f.checker.update(abc, 3);
  f.checker.end(1);
  f.checker.begin(0);
  f.checker.end(0);
  f.checker.drain();
}

TEST(RangeChecker, ManyBytesGoThroughTheBoundedQueue) {
  Fixture f;
  std::vector<uint8_t> big(20u << 20, 0);  // more than the queue holds
  f.sums = {"cd52d81e25f372e6fa4db2c0dfceb59862c1969cab17096da352b34950c973cc"};  // sha256sum of 20 MiB of zeros
  f.checker.begin(0);
  for (size_t i = 0; i < big.size(); i += 65536) f.checker.update(big.data() + i, 65536);
  f.checker.end(0);
  f.checker.drain();  // every byte arrived, in order
}

}  // namespace
}  // namespace source
