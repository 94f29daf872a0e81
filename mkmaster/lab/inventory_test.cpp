#include "mkmaster/lab/inventory.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "mkmaster/lab/config_error.h"
#include "testing/temp_dir.h"

namespace lab {

namespace fs = std::filesystem;

namespace {
const std::string kDir = MKMASTER_TEST_DATA;

// Parses an inventory placed in the sample directory (so device-types/
// resolves) and returns the error message, or "" if it loaded.
std::string error_of(const std::string& text) {
  try {
    parse_inventory(text, kDir + "/t.ini");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const std::string kHead =
    "[lab]\ndevice_types = device-types\nnetwork = 10.0.0.0/24\n"
    "[machine 01]\ndevice_type = highbank\nbmc_user = admin\npassword_env = PW\n";
}  // namespace

// device_type names the board profile too: a type with a device config but
// no profile is named at the line that set it, inherited or not.
TEST(Inventory, DeviceTypeWithoutABoardProfileIsNamed) {
  auto inv = parse_inventory(kHead + "[node 01-01]\neth0_mac = fc:2f:40:00:00:01\neth0_ip = 10.0.0.2\nbmc = 10.0.0.3\n"
                                     "[node 01-02]\ndevice_type = midway\neth0_mac = fc:2f:40:00:00:02\n"
                                     "eth0_ip = 10.0.0.4\nbmc = 10.0.0.5\n",
                             kDir + "/t.ini");
  attach_boards(inv, MKMASTER_BOARDS_DIR);
  EXPECT_EQ(inv.node("calxeda01-02").board.dtb, "ecx-2000.dtb");
  EXPECT_EQ(inv.node("calxeda01-01").board.dtb, "highbank.dtb");
  const fs::path boards = mktest::scratch_dir("only-highbank");
  fs::copy_file(std::string(MKMASTER_BOARDS_DIR) + "/highbank.ini", boards / "highbank.ini");
  try {
    attach_boards(inv, boards.string());
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(kDir + "/t.ini:13: device_type: unknown board 'midway'", 0), 0u) << e.what();
    EXPECT_NE(std::string(e.what()).find("known: highbank"), std::string::npos) << e.what();
  }
  // [lab] boards = DIR overrides mkmaster's own profiles.
  auto own = parse_inventory("[lab]\nboards = " + boards.string() + "\n" + kHead.substr(6) +
                                 "[node 01-01]\neth0_mac = fc:2f:40:00:00:01\neth0_ip = 10.0.0.2\nbmc = 10.0.0.3\n",
                             kDir + "/t.ini");
  EXPECT_EQ(own.boards_dir, boards.string());
  attach_boards(own, "/nonexistent");
  EXPECT_EQ(own.node("calxeda01-01").board.name, "highbank");
}

TEST(Inventory, LoadsTheSample) {
  const auto inv = load_inventory(kDir + "/lab.ini");
  ASSERT_EQ(inv.nodes.size(), 4u);
  const Node& n = inv.node("calxeda02-02");
  EXPECT_EQ(n.eth0.name, "calxeda02-02-00");
  EXPECT_EQ(n.eth0.mac, "fc:2f:40:08:7e:4c");  // normalized
  EXPECT_EQ(n.eth1.name, "calxeda02-02-01");
  EXPECT_EQ(n.control.name, "calxeda02-02-02");
  EXPECT_EQ(n.bmc_host, "192.168.2.81");  // defaults to control_ip
  EXPECT_EQ(n.bmc_port, 623);
  EXPECT_EQ(n.bmc_user, "admin");
  EXPECT_EQ(n.password_env, "MK_BMC_PASSWORD_02");
  EXPECT_EQ(n.agent_host, "192.168.2.79");
  EXPECT_EQ(&inv.node("calxeda02-02-02"), &n);
  EXPECT_EQ(&inv.node("02-02"), &n);
  const Node& m = inv.node("calxeda03-02");
  EXPECT_EQ(m.bmc_port, 6230);
  EXPECT_EQ(m.bmc_user, "lava");
  EXPECT_EQ(m.password_file, kDir + "/secrets/bmc-03.pw");
  EXPECT_EQ(m.eth0.mac, "fc:2f:40:21:00:20");
  EXPECT_THROW(inv.node("calxeda09-01"), ConfigError);
}

TEST(Inventory, ErrorsNameFileLineField) {
  const std::string f = kDir + "/t.ini";
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44\neth0_ip = 10.0.0.2\nbmc = 127.0.0.1\n"),
            f + ":9:eth0_mac: '00:11:22:33:44' is not a MAC address like fc:2f:40:17:da:28");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.300\nbmc = 127.0.0.1\n"),
            f + ":10:eth0_ip: '10.0.0.300' is not an IPv4 address");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.1.2\nbmc = 127.0.0.1\n"),
            f + ":10:eth0_ip: 10.0.1.2 is outside the lab network 10.0.0.0/24");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = 127.0.0.1\n"
                             "[node 01-02]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.3\nbmc = 127.0.0.1\n"),
            f + ":13:eth0_mac: duplicate MAC 00:11:22:33:44:55 (also at " + f + ":9)");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = 127.0.0.1\n"
                             "[node 01-02]\neth0_mac = 00:11:22:33:44:56\neth0_ip = 10.0.0.2\nbmc = 127.0.0.1\n"),
            f + ":14:eth0_ip: duplicate IP address 10.0.0.2 (also at " + f + ":10)");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\n"),
            f + ":8:bmc: required when the node has no control_ip");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = 1.2.3.4;x\n"),
            f + ":11:bmc: '1.2.3.4;x' is not an IPv4 address or host name");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\ncolour = red\n"),
            f + ":12:colour: unknown key in [node 01-01]");
  EXPECT_EQ(error_of(kHead + "[node 02-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\n"),
            f + ":8:[node 02-01]: machine 02 has no [machine 02] section");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\neth0_name = bad_name\n"),
            f + ":12:eth0_name: 'bad_name' is not a valid host name");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\ndevice_type = nosuch\n"),
            f + ":12:device_type: no device config " + kDir + "/device-types/nosuch.conf for type 'nosuch'");
  EXPECT_EQ(error_of("[lab]\ndevice_types = device-types\n[machine 01]\ndevice_type = highbank\nbmc_user = admin\n"
                     "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\n"),
            f + ":6:password_file: no credentials: set password_file or password_env");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\npassword_file = p\npassword_env = Q\n"),
            f + ":13:password_env: set together with password_file: choose one");
  EXPECT_EQ(error_of(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\nbmc_user = ad min\n"),
            f + ":12:bmc_user: must be 1-16 characters of [A-Za-z0-9._@-]");
  EXPECT_EQ(error_of(kHead + "[nodes]\n"), f + ":8:[nodes]: unknown section (expected [lab], [machine NN] or [node NN-NN])");
}

TEST(Inventory, ValuesCannotInjectGeneratedConfiguration) {
  const std::string f = kDir + "/t.ini";
  const std::string node = "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\n";
  // The reproduction: an INI continuation line in tftp_root.
  EXPECT_EQ(error_of("[lab]\ntftp_root = /var/lib/tftpboot\n  dhcp-script=/path/evil.sh\n" + kHead.substr(6) + node),
            f + ":3:tftp_root: indented line continues the value of 'tftp_root' (line 2): multi-line values are not "
                "allowed (they would become extra lines in generated files)");
  EXPECT_EQ(error_of("[lab]\ntftp_root = /srv/tftp,eth1\n" + kHead.substr(6) + node),
            f + ":2:tftp_root: ',' at offset 9 has a meaning in dnsmasq.conf (it starts another field): not allowed here");
  EXPECT_EQ(error_of(kHead + node + "kernel_args = quiet\x0bx\n"),
            f + ":12:kernel_args: a control character (0x0b) at offset 5: values must be one line of printable text");
}

TEST(Inventory, ReadsPasswordsFromEnvOrPrivateFile) {
  const mktest::TempDir dir("mknode-inv");
  std::filesystem::copy(kDir + "/device-types", dir / "device-types", std::filesystem::copy_options::recursive |
                                                                          std::filesystem::copy_options::overwrite_existing);
  const auto pw = dir / "pw";
  std::ofstream(pw) << "s3cret\n";
  ::chmod(pw.c_str(), 0600);
  const auto inv = parse_inventory(kHead + "[node 01-01]\neth0_mac = 00:11:22:33:44:55\neth0_ip = 10.0.0.2\nbmc = h\n"
                                            "password_file = pw\n[node 01-02]\neth0_mac = 00:11:22:33:44:56\n"
                                            "eth0_ip = 10.0.0.3\nbmc = h\n",
                                   (dir / "lab.ini").string());
  EXPECT_EQ(read_bmc_password(inv.nodes[0]), "s3cret");
  ::chmod(pw.c_str(), 0644);
  EXPECT_THROW(read_bmc_password(inv.nodes[0]), ConfigError);
  ::unsetenv("PW");
  try {
    read_bmc_password(inv.nodes[1]);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "calxeda01-02: BMC password: environment variable PW is not set");
  }
  ::setenv("PW", "envpw", 1);
  EXPECT_EQ(read_bmc_password(inv.nodes[1]), "envpw");
}

}  // namespace lab
