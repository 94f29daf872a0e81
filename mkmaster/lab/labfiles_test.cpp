#include "mkmaster/lab/labfiles.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/node_config.h"
#include "testing/files.h"
#include "testing/temp_dir.h"

namespace lab {

namespace fs = std::filesystem;

namespace {
const std::string kDir = MKMASTER_TEST_DATA;

using mktest::slurp;

// Golden files were reviewed by hand against the LAVA Highbank setup's dnsmasq.conf sample.
// MKNODE_UPDATE_GOLDEN=1 rewrites them (review the diff before committing).
void expect_golden(const std::string& name, const std::string& actual) {
  const fs::path golden = fs::path(kDir) / "golden" / name;
  if (std::getenv("MKNODE_UPDATE_GOLDEN")) {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << actual;
  }
  EXPECT_EQ(actual, slurp(golden)) << "golden file " << golden;
}
// The sample inventory with its nodes' board profiles (boards/).
Inventory sample(const std::string& name = "lab.ini") {
  auto inv = load_inventory(kDir + "/" + name);
  attach_boards(inv, MKMASTER_BOARDS_DIR);
  return inv;
}
}  // namespace

TEST(LabFiles, GoldenDnsmasqConf) {
  const auto inv = sample();
  expect_golden("dnsmasq.conf", render_dnsmasq_conf(inv));
}

TEST(LabFiles, GoldenTreeForTwoMachinesFourNodes) {
  const auto inv = sample();
  const fs::path out = mktest::scratch_dir("labfiles");
  // dnsmasq.conf, per node a pxelinux config, a .conf and a LAVA dictionary, one device type.
  EXPECT_EQ(write_lab_files(inv, out.string()), 1 + 4 * 3 + 1);
  // By default the dictionaries name the inventory by its absolute path.
  EXPECT_NE(slurp(out / "lava/devices/calxeda02-01.jinja2").find(" --inventory " + fs::absolute(kDir + "/lab.ini").lexically_normal().string() + " "),
            std::string::npos);
  for (const char* f : {"tftp/master/pxelinux.cfg/01-fc-2f-40-17-da-28", "tftp/master/pxelinux.cfg/01-fc-2f-40-08-7e-4c",
                        "tftp/master/pxelinux.cfg/01-fc-2f-40-21-00-10", "tftp/master/pxelinux.cfg/01-fc-2f-40-21-00-20",
                        "devices/calxeda02-01.conf", "devices/calxeda03-02.conf", "dnsmasq.conf"})
    expect_golden(f, slurp(out / f));
  // The device type is copied byte for byte: the LAVA Highbank setup's file stays as it is.
  EXPECT_EQ(slurp(out / "device-types/highbank.conf"), slurp(kDir + "/device-types/highbank.conf"));
  // A generated per-node config merges with the device type the LAVA way.
  DeviceConfig cfg;
  cfg.load_file((out / "device-types/highbank.conf").string());
  cfg.load_file((out / "devices/calxeda02-01.conf").string());
  EXPECT_EQ(cfg.get("connection_command"), "ipmitool -I lanplus -U admin -P admin -H 192.168.2.78 sol activate");
}

TEST(LabFiles, DnsmasqAcceptsTheGeneratedFile) {
  const auto inv = sample();
  const fs::path out = mktest::scratch_dir("dnsmasq");
  write_lab_files(inv, out.string());
  const std::string cmd = "dnsmasq --test --conf-file=" + (out / "dnsmasq.conf").string() + " >" +
                          (out / "dnsmasq.out").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << slurp(out / "dnsmasq.out");
  EXPECT_NE(slurp(out / "dnsmasq.out").find("syntax check OK"), std::string::npos);
}

// Each node's menu is its board's: a Midway node boots files/midway/ with
// the ECX-2000 dtb, beside a Highbank node of the same machine.
TEST(LabFiles, MixedBoardsEachGetTheirMenu) {
  const auto inv = sample("mixed.ini");
  EXPECT_EQ(inv.node("calxeda02-02").board.qemu_machine, "midway");
  EXPECT_EQ(inv.node("calxeda02-02").board.lava_device_type, "highbank");
  EXPECT_EQ(inv.node("calxeda02-01").board.name, "highbank");
  const std::string mid = render_pxelinux_config(inv.node("calxeda02-02"));
  EXPECT_NE(mid.find("initrd files/midway/initrd.gz\nMENU LABEL lava-master\nappend console=ttyAMA0 nosplash break\n"
                     "kernel files/midway/vmlinuz\nfdt files/midway/ecx-2000.dtb\n"),
            std::string::npos)
      << mid;
  const std::string hb = render_pxelinux_config(inv.node("calxeda02-01"));
  EXPECT_NE(hb.find("initrd files/highbank/initrd.gz\n"), std::string::npos) << hb;
  const fs::path out = mktest::scratch_dir("mixed");
  write_lab_files(inv, out.string());
  EXPECT_EQ(slurp(out / "device-types/midway.conf"), slurp(kDir + "/device-types/midway.conf"));
}

TEST(LabFiles, PerNodeMenusNameTheInitrdTheBuildWrote) {
  const auto inv = sample();
  const std::string menu =
      "DEFAULT menu\nLABEL lava-master\ninitrd files/highbank/initrd.zst\nkernel files/highbank/vmlinuz\n";
  const std::string initrd = initrd_in_menu(menu, "default-arm-highbank");
  EXPECT_EQ(initrd, "initrd.zst");
  const std::string cfg = render_pxelinux_config(inv.node("calxeda02-01"), initrd);
  EXPECT_NE(cfg.find("\ninitrd files/highbank/initrd.zst\n"), std::string::npos) << cfg;
  EXPECT_EQ(cfg.find("initrd.gz"), std::string::npos);
  const fs::path out = mktest::scratch_dir("labfiles-xz");
  write_lab_files(inv, out.string(), "initrd.xz");
  EXPECT_NE(slurp(out / "tftp/master/pxelinux.cfg/01-fc-2f-40-17-da-28").find("initrd files/highbank/initrd.xz\n"),
            std::string::npos);
  EXPECT_THROW(initrd_in_menu("DEFAULT menu\n", "m"), ConfigError);
  EXPECT_THROW(initrd_in_menu("initrd files/highbank/x;y\n", "m"), ConfigError);
}

TEST(LabFiles, DeviceConfigsRoundTrip) {
  // What labfiles writes reads back, through the same INI reader and
  // interpolation LAVA uses, as exactly the node's values.
  const auto inv = sample();
  for (const auto& n : inv.nodes) {
    DeviceConfig cfg;
    cfg.load_text(render_device_config(n), n.name + ".conf");
    const auto vars = node_variables(n);
    EXPECT_EQ(cfg.entries().size(), vars.size());
    for (const auto& [k, v] : vars) EXPECT_EQ(cfg.get(k), v) << k;
  }
}

TEST(LabFiles, ARenderedValueWithALineBreakIsRefused) {
  // Values are checked when read; the renderers check again, so a Node
  // built any other way cannot inject either.
  auto inv = sample();
  inv.tftp_root = "/srv\ndhcp-script=/path/evil.sh";
  EXPECT_THROW(render_dnsmasq_conf(inv), ConfigError);
  Node n = inv.nodes.front();
  n.kernel_args = "quiet\nkernel /evil";
  EXPECT_THROW(render_pxelinux_config(n), ConfigError);
  n = inv.nodes.front();
  n.bmc_user = "admin\nconnection_command = sh";
  EXPECT_THROW(render_device_config(n), ConfigError);
}

TEST(LabFiles, NodeConfigDefaultsAndOverrides) {
  const auto inv = sample();
  const auto cfg = node_device_config(inv.node("calxeda03-02"));
  EXPECT_EQ(cfg.get("power_on_cmd"), "ipmitool -I lanplus -C 3 -H 192.168.2.87 -p 6230 -U lava -E chassis power on");
  EXPECT_EQ(cfg.get("connection_command"), "ipmitool -I lanplus -U admin -P admin -H 192.168.2.87 sol activate");
  EXPECT_EQ(cfg.get_int("bootloader_serial_delay_ms"), 300);
}

}  // namespace lab
