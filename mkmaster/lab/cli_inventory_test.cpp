// `mkmaster inventory --json`: resolved fields, strings escaped, credentials
// only as references.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>

#include "base/subprocess.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(InventoryCli, DumpsResolvedFieldsEscapedAndNoPassword) {
  const mktest::TempDir dir("inventory-cli");
  // A path with a quote and a backslash: the JSON must escape both.
  const std::string sub = dir.file("lab \"a\\b\"");
  mktest::write_file(sub + "/types/highbank.conf", std::string("client_type = highbank\n"));
  mktest::write_file(sub + "/pw", std::string("s3cret-never-printed\n"));
  ::chmod((sub + "/pw").c_str(), 0600);
  mktest::write_file(sub + "/lab.ini", std::string("[lab]\nnetwork = 192.0.2.0/24\ndevice_types = types\n"
                                                   "[machine 01]\ndevice_type = highbank\nbmc_user = admin\n"
                                                   "password_file = pw\n"
                                                   "[node 01-02]\neth0_mac = FC-2F-40-17-DA-28\neth0_ip = 192.0.2.11\n"
                                                   "bmc = 127.0.0.3\nbmc_port = 6230\n"));
  const auto r = base::run_process({MKMASTER_BIN, "inventory", "--json", "-i", sub + "/lab.ini"}, {},
                                   std::chrono::seconds(20));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr(R"("password_file": ")" + dir.path() + R"(/lab \"a\\b\"/pw")"));
  EXPECT_THAT(r.output, HasSubstr(R"("name": "calxeda01-02", "machine": "01", "number": "02", )"
                                  R"("eth0": {"name": "calxeda01-02-00", "mac": "fc:2f:40:17:da:28", "ip": "192.0.2.11"})"));
  EXPECT_THAT(r.output, HasSubstr(R"("bmc_host": "127.0.0.3", "bmc_port": 6230, "bmc_user": "admin")"));
  EXPECT_THAT(r.output, HasSubstr(R"("device_type": "highbank", "agent_host": "192.0.2.11", "agent_port": 7433)"));
  EXPECT_THAT(r.output, HasSubstr(R"("network": "192.0.2.0/24")"));
  // The node's board profile, for the emulated lab's QEMU and LAVA.
  EXPECT_THAT(r.output, HasSubstr(R"("qemu_machine": "highbank", "kernel_flavour": "armmp", "dtb": "highbank.dtb")"));
  EXPECT_THAT(r.output, HasSubstr(R"("lava_device_type": "highbank"})"));
  EXPECT_THAT(r.output, Not(HasSubstr("s3cret")));
}

TEST(InventoryCli, ADeviceTypeWithoutABoardProfileIsNamed) {
  const mktest::TempDir dir("inventory-cli");
  mktest::write_file(dir.file("types/sabre.conf"), std::string("client_type = sabre\n"));
  mktest::write_file(dir.file("lab.ini"), std::string("[lab]\ndevice_types = types\n[machine 01]\nbmc_user = a\n"
                                                      "password_env = PW\ndevice_type = sabre\n"
                                                      "[node 01-01]\neth0_mac = fc:2f:40:00:00:01\n"
                                                      "eth0_ip = 192.0.2.2\nbmc = 127.0.0.3\n"));
  for (const char* cmd : {"inventory", "labfiles"}) {
    std::vector<std::string> argv = {MKMASTER_BIN, cmd, "-i", dir.file("lab.ini")};
    if (std::string(cmd) == "labfiles") argv.insert(argv.end(), {"-o", dir.file("out")});
    const auto r = base::run_process(argv, {}, std::chrono::seconds(20));
    EXPECT_EQ(r.exit_code, 1) << cmd;
    EXPECT_THAT(r.output, HasSubstr("lab.ini:6: device_type: unknown board 'sabre'")) << cmd;
    EXPECT_THAT(r.output, HasSubstr("known: highbank, midway")) << cmd;
  }
}

TEST(InventoryCli, ABadInventoryFailsNamingTheLine) {
  const mktest::TempDir dir("inventory-cli");
  mktest::write_file(dir.file("lab.ini"), std::string("[lab]\nnetwork = 192.0.2.0/24\n[node 01-01]\neth0_mac = x\n"));
  const auto r = base::run_process({MKMASTER_BIN, "inventory", "--json", "-i", dir.file("lab.ini")}, {},
                                   std::chrono::seconds(20));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("lab.ini:3:[node 01-01]: machine 01 has no [machine 01] section"));
}

}  // namespace
