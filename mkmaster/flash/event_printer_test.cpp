#include "mkmaster/flash/event_printer.h"

#include <gtest/gtest.h>

namespace flash {

TEST(EventPrinter, LavaLinesNameNodeStepAndOutcome) {
  EXPECT_EQ(format_event({"calxeda01-01", "power-off", "start", 0, ""}, EventStyle::kLava),
            "mkmaster: calxeda01-01: power-off: start\n");
  EXPECT_EQ(format_event({"calxeda01-01", "power-off", "done", 0.26, ""}, EventStyle::kLava),
            "mkmaster: calxeda01-01: power-off: pass (0.3 s)\n");
  EXPECT_EQ(format_event({"calxeda01-01", "stream-image", "progress", 1, "4096/8192 bytes (50%)"}, EventStyle::kLava),
            "mkmaster: calxeda01-01: stream-image: 4096/8192 bytes (50%)\n");
  EXPECT_EQ(format_event({"calxeda01-01", "check-image", "failed", 0.04, "http://h/x.img: HTTP 404"}, EventStyle::kLava),
            "mkmaster: calxeda01-01: check-image: FAIL after 0.0 s: http://h/x.img: HTTP 404\n");
  NodeResult ok;
  ok.node = "calxeda01-01";
  ok.ok = true;
  ok.steps = {{"check-image", 0.5}, {"stream-image", 2.0}};
  ok.push.verify_message = "ok (O_DIRECT)";
  EXPECT_EQ(format_result(ok, EventStyle::kLava), "mkmaster: calxeda01-01: result: pass, flashed in 2.5 s, verify ok (O_DIRECT)\n");
  NodeResult bad;
  bad.node = "calxeda01-01";
  bad.failed_step = "check-image";
  bad.error = "calxeda01-01: step check-image failed after 0.0 s: x";
  EXPECT_EQ(format_result(bad, EventStyle::kLava), "mkmaster: calxeda01-01: result: FAIL in step check-image\n");
}

TEST(EventPrinter, JsonHasOneObjectPerEventAndAResult) {
  EXPECT_EQ(format_event({"n\"1", "verify", "done", 1.5, "a\nb"}, EventStyle::kJson),
            "{\"node\":\"n\\\"1\",\"step\":\"verify\",\"event\":\"done\",\"seconds\":1.500,\"message\":\"a\\u000ab\"}\n");
  NodeResult bad;
  bad.node = "n";
  bad.failed_step = "power-on";
  bad.error = "n: step power-on failed after 1.0 s: BMC";
  bad.steps = {{"power-on", 1.0}};
  EXPECT_EQ(format_result(bad, EventStyle::kJson),
            "{\"node\":\"n\",\"result\":\"fail\",\"failed_step\":\"power-on\",\"seconds\":1.000,\"message\":\"n: step "
            "power-on failed after 1.0 s: BMC\"}\n");
}

TEST(EventPrinter, HumanLinesAreUnchanged) {
  EXPECT_EQ(format_event({"n", "verify", "done", 1.0, ""}, EventStyle::kHuman), "n: verify done in 1.0 s\n");
  EXPECT_EQ(format_event({"n", "verify", "start", 0, ""}, EventStyle::kHuman), "n: verify ...\n");
  NodeResult bad;
  EXPECT_EQ(format_result(bad, EventStyle::kHuman), "");
}

}  // namespace flash
