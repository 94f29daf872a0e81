#include "mkmaster/lab/device_config.h"

#include <gtest/gtest.h>

#include "mkmaster/lab/config_error.h"

namespace lab {

TEST(DeviceConfig, SeedHighbankConfLoadsUnchanged) {
  DeviceConfig cfg;
  cfg.load_file(MKMASTER_TEST_DATA "/device-types/highbank.conf");
  cfg.set("ecmeip", "calxeda02-01-02", "node");
  EXPECT_EQ(cfg.get("client_type"), "highbank");
  EXPECT_EQ(cfg.get("connection_command"), "ipmitool -I lanplus -U admin -P admin -H calxeda02-01-02 sol activate");
  EXPECT_EQ(cfg.get_int("bootloader_serial_delay_ms"), 300);
  EXPECT_EQ(cfg.get_int("test_shell_serial_delay_ms"), 100);
  EXPECT_EQ(cfg.origin("client_type"), MKMASTER_TEST_DATA "/device-types/highbank.conf:1");
}

TEST(DeviceConfig, InterpolationLikeConfigParser) {
  DeviceConfig cfg;
  cfg.set("a", "x%(B)sz", "f:1");
  cfg.set("b", "%(c)s", "f:2");
  cfg.set("c", "y", "f:3");
  cfg.set("pct", "100%% done", "f:4");
  EXPECT_EQ(cfg.get("a"), "xyz");
  EXPECT_EQ(cfg.get("pct"), "100% done");
  cfg.set("c", "Y", "later layer");  // a later layer overrides, references see it
  EXPECT_EQ(cfg.get("a"), "xYz");
}

TEST(DeviceConfig, ClearErrors) {
  DeviceConfig cfg;
  cfg.set("connection_command", "ipmitool -H %(ecmeip)s", "highbank.conf:2");
  try {
    cfg.get("connection_command");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "highbank.conf:2:connection_command: refers to unknown key 'ecmeip' in %(ecmeip)s");
  }
  cfg.set("loop", "%(loop)s", "f:9");
  try {
    cfg.get("loop");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("f:9:loop: interpolation deeper than 10 levels"), std::string::npos);
  }
  cfg.set("bad", "50% x", "f:3");
  EXPECT_THROW(cfg.get("bad"), ConfigError);
  cfg.set("n", "12a", "f:4");
  EXPECT_THROW(cfg.get_int("n"), ConfigError);
  EXPECT_THROW(cfg.get("missing"), ConfigError);
}

TEST(DeviceConfig, SectionsOtherThanDefaultAreRejected) {
  DeviceConfig cfg;
  EXPECT_THROW(cfg.load_file(MKMASTER_TEST_DATA "/lab.ini"), ConfigError);
}

}  // namespace lab
