#!/usr/bin/env python3
"""Fast checks of the lab's pieces that need no namespace or QEMU: the
pxelinux parser of the emulated U-Boot, its disk (distro) boot on an image
from make_test_image.py, the lab's reading of the inventory through
`mkmaster inventory --json` ($MKMASTER_BIN) and its errors.  Needs the armhf sysroot for the test image (fails without it)."""

import os
import subprocess
import sys
import tempfile
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lab  # noqa: E402
import make_test_image  # noqa: E402
import uboot  # noqa: E402

SEED_MENU = """DEFAULT menu
PROMPT 0
MENU TITLE LAVA Master Image
TIMEOUT 20
ONTIMEOUT lava-master
LABEL lava-master
initrd files/highbank/initrd.gz
MENU LABEL lava-master
append console=ttyAMA0 nosplash break
kernel files/highbank/vmlinuz
"""


class PxelinuxParser(unittest.TestCase):
    def test_seed_menu_boots_lava_master(self):
        label = uboot.parse_pxelinux(SEED_MENU, "seed")
        self.assertEqual(label["name"], "lava-master")
        self.assertEqual(label["kernel"], "files/highbank/vmlinuz")
        self.assertEqual(label["initrd"], "files/highbank/initrd.gz")
        self.assertEqual(label["append"], "console=ttyAMA0 nosplash break")
        self.assertNotIn("fdt", label)

    def test_last_default_or_ontimeout_wins_and_aliases(self):
        text = ("LABEL a\n LINUX /a\nLABEL b\n KERNEL /b\n DEVICETREE /b.dtb\n"
                "ONTIMEOUT a\nDEFAULT b\n")
        label = uboot.parse_pxelinux(text, "x")
        self.assertEqual((label["name"], label["kernel"], label["fdt"]), ("b", "/b", "/b.dtb"))

    def test_errors_name_file_and_line(self):
        with self.assertRaisesRegex(uboot.BootError, r"^cfg: default label 'nope' is not defined"):
            uboot.parse_pxelinux("DEFAULT nope\nLABEL x\nKERNEL k\n", "cfg")
        with self.assertRaisesRegex(uboot.BootError, r"^cfg:2: unknown pxelinux keyword 'kernal'"):
            uboot.parse_pxelinux("LABEL x\nKERNAL k\n", "cfg")
        with self.assertRaisesRegex(uboot.BootError, r"^cfg:1: 'kernel' outside a LABEL"):
            uboot.parse_pxelinux("KERNEL k\n", "cfg")
        with self.assertRaisesRegex(uboot.BootError, r"label 'x' has no KERNEL"):
            uboot.parse_pxelinux("LABEL x\nAPPEND a\n", "cfg")


class DiskBoot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="mkmaster-labunit-")
        cls.image = os.path.join(cls.tmp.name, "disk.img")
        make_test_image.build_disk(cls.image, "unit1")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def args(self, disk):
        out = tempfile.mkdtemp(dir=self.tmp.name)
        return types.SimpleNamespace(disk=disk, out=out, result=os.path.join(out, "r.json"))

    def test_finds_extlinux_on_the_bootable_partition(self):
        parts = uboot.partitions(self.image)
        self.assertEqual([(p["num"], p["bootable"], p["offset"]) for p in parts], [(1, True, 1 << 20)])
        result = uboot.disk(self.args(self.image))
        self.assertEqual(result["source"], "scsi 0:1/extlinux/extlinux.conf")
        self.assertIn("mkmaster.image=unit1", result["append"])
        vmlinuz, dtb = make_test_image.kernel_files()
        with open(vmlinuz, "rb") as a, open(result["kernel"], "rb") as b:
            self.assertEqual(a.read(), b.read())
        with open(dtb, "rb") as a, open(result["fdt"], "rb") as b:
            self.assertEqual(a.read(), b.read())
        cpio = subprocess.run(["sh", "-c", f"zcat {result['initrd']} | cpio -i --to-stdout init"],
                              capture_output=True, check=True).stdout
        self.assertIn(b"MKMASTER-FLASHED-unit1", cpio)

    def test_blank_disk_is_a_clear_error(self):
        blank = os.path.join(self.tmp.name, "blank.img")
        with open(blank, "wb") as f:
            f.truncate(1 << 20)
        with self.assertRaisesRegex(uboot.BootError, "no MBR partition table"):
            uboot.disk(self.args(blank))

    def test_partition_without_config_is_a_clear_error(self):
        img = os.path.join(self.tmp.name, "noconf.img")
        with open(self.image, "rb") as f, open(img, "wb") as g:
            g.write(f.read())
        subprocess.run(["debugfs", "-w", "-R", "rm /extlinux/extlinux.conf", f"{img}?offset={1 << 20}"],
                       capture_output=True, check=True)
        with self.assertRaisesRegex(uboot.BootError, r"nothing bootable on .*scsi 0:1 /extlinux/extlinux.conf"):
            uboot.disk(self.args(img))

    def test_reproducible(self):
        again = os.path.join(self.tmp.name, "again.img")
        make_test_image.build_disk(again, "unit1")
        with open(self.image, "rb") as a, open(again, "rb") as b:
            self.assertEqual(a.read(), b.read())


class Inventory(unittest.TestCase):
    GOOD = ("[lab]\nnetwork = 192.0.2.0/24\ntftp_root = /srv/tftp\nbmc_user = admin\n"
            "password_env = LABPW\ndevice_type = highbank\ndevice_types = device-types\n\n[machine 02]\n\n[node 02-01]\n"
            "eth0_mac = FC-2F-40-17-DA-28\neth0_ip = 192.0.2.76\ncontrol_mac = fc:2f:40:17:da:2a\n"
            "control_ip = 192.0.2.78\n")

    def load(self, text):
        tmp = tempfile.TemporaryDirectory(prefix="mkmaster-labunit-")
        self.addCleanup(tmp.cleanup)
        os.makedirs(os.path.join(tmp.name, "device-types"))
        with open(os.path.join(tmp.name, "device-types", "highbank.conf"), "w") as f:
            f.write("client_type = highbank\n")
        path = os.path.join(tmp.name, "lab.ini")
        with open(path, "w") as f:
            f.write(text)
        return lab.load_inventory(os.environ.get("MKMASTER_BIN"), path)

    def test_good(self):
        inv = self.load(self.GOOD)
        n = inv.nodes[0]
        self.assertEqual((n.name, n.eth0_mac, n.bmc_host, n.bmc_port), (
            "calxeda02-01", "fc:2f:40:17:da:28", "192.0.2.78", 623))
        self.assertEqual(inv.server_ip, "192.0.2.1")
        self.assertEqual((inv.tftp_root, n.eth0_ip, n.bmc_user, n.index), ("/srv/tftp", "192.0.2.76", "admin", 0))
        os.environ["LABPW"] = "pw"
        self.assertEqual(n.password(), "pw")

    def test_errors(self):
        cases = [
            (self.GOOD.replace("network = 192.0.2.0/24\n", ""), r"\[lab\]: network: the emulated lab needs"),
            (self.GOOD.replace("FC-2F-40-17-DA-28", "fc:2f:40"), r"lab.ini:12:eth0_mac: 'fc:2f:40' is not"),
            (self.GOOD.replace("eth0_ip = 192.0.2.76", "eth0_ip = 10.0.0.1"), r"eth0_ip: 10.0.0.1 is outside"),
            (self.GOOD.replace("password_env = LABPW\n", ""), r"password_file: no credentials"),
            (self.GOOD + "bmc = 10.1.1.1\n", r"bmc: 10.1.1.1 is neither"),
        ]
        for text, rx in cases:
            with self.subTest(rx=rx), self.assertRaisesRegex(lab.LabError, rx):
                self.load(text)

    def test_unset_password_env_names_node_and_variable(self):
        inv = self.load(self.GOOD.replace("LABPW", "MKLAB_SURELY_UNSET"))
        with self.assertRaisesRegex(lab.LabError,
                                    r"node calxeda02-01: password_env: .*MKLAB_SURELY_UNSET is not set"):
            inv.nodes[0].password()

    def test_namespace_prefix_is_per_state_dir(self):
        self.assertEqual(lab.ns_prefix("/tmp/a"), lab.ns_prefix("/tmp/../tmp/a"))
        self.assertNotEqual(lab.ns_prefix("/tmp/a"), lab.ns_prefix("/tmp/b"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
