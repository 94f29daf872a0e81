#include "mkmaster/lab/labfiles.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mkmaster/lab/config_error.h"
#include "mkmaster/lab/node_config.h"
#include "testing/temp_dir.h"

namespace lab {

namespace fs = std::filesystem;

namespace {
const std::string kDir = MKMASTER_TEST_DATA;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in) << p;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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
}  // namespace

TEST(LabFiles, GoldenDnsmasqConf) {
  const auto inv = load_inventory(kDir + "/lab.ini");
  expect_golden("dnsmasq.conf", render_dnsmasq_conf(inv));
}

TEST(LabFiles, GoldenTreeForTwoMachinesFourNodes) {
  const auto inv = load_inventory(kDir + "/lab.ini");
  const fs::path out = mktest::scratch_dir("labfiles");
  EXPECT_EQ(write_lab_files(inv, out.string()), 1 + 4 * 2 + 1);
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
  const auto inv = load_inventory(kDir + "/lab.ini");
  const fs::path out = mktest::scratch_dir("dnsmasq");
  write_lab_files(inv, out.string());
  const std::string cmd = "dnsmasq --test --conf-file=" + (out / "dnsmasq.conf").string() + " >" +
                          (out / "dnsmasq.out").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << slurp(out / "dnsmasq.out");
  EXPECT_NE(slurp(out / "dnsmasq.out").find("syntax check OK"), std::string::npos);
}

TEST(LabFiles, PerNodeMenusNameTheInitrdTheBuildWrote) {
  const auto inv = load_inventory(kDir + "/lab.ini");
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
  const auto inv = load_inventory(kDir + "/lab.ini");
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
  auto inv = load_inventory(kDir + "/lab.ini");
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
  const auto inv = load_inventory(kDir + "/lab.ini");
  const auto cfg = node_device_config(inv.node("calxeda03-02"));
  EXPECT_EQ(cfg.get("power_on_cmd"), "ipmitool -I lanplus -C 3 -H 192.168.2.87 -p 6230 -U lava -E chassis power on");
  EXPECT_EQ(cfg.get("connection_command"), "ipmitool -I lanplus -U admin -P admin -H 192.168.2.87 sol activate");
  EXPECT_EQ(cfg.get_int("bootloader_serial_delay_ms"), 300);
}

}  // namespace lab
