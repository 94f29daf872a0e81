#!/usr/bin/env python3
"""The real master image in the lab: `mkmaster build` writes the TFTP tree,
`mkmaster labfiles` the dnsmasq.conf; a node PXE-boots the image, reaches
its `(initrd) ` shell over SOL, runs the seed's `. /scripts/functions;
DEVICE=eth0 configure_networking`, receives a test image over TCP onto
/dev/sda and, after bootdev disk + reset, boots it.

MKMASTER_BIN names the mkmaster binary (ctest sets it to the built target);
the armhf target-agent is the one `mkmaster build` embeds by default, or
MKMASTER_AGENT.
Fails, never skips, when something is missing.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import driver  # noqa: E402
import make_test_image  # noqa: E402
from test_lab import LAB, SENDER, lab, lab_namespaces, read  # noqa: E402

PASSWORD = "master-Secret-2"
MEASURED = {}


class MasterImageInLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mkmaster = os.environ.get("MKMASTER_BIN")
        if not cls.mkmaster or not os.access(cls.mkmaster, os.X_OK):
            raise RuntimeError("MKMASTER_BIN must name the built mkmaster binary "
                               f"(got {cls.mkmaster!r})")
        cls.tmp = tempfile.mkdtemp(prefix="mkmaster-labmaster-")
        # The lab's template: the project's menu plus the image's documented
        # boot option for QEMU's xgmac (docs/lab.md).
        tpl = read(os.path.join(ROOT, "pxelinux", "default-arm-highbank.in"))
        if "append console=ttyAMA0 nosplash break\n" not in tpl:
            raise RuntimeError("pxelinux/default-arm-highbank.in: no seed append line")
        tpl = tpl.replace("append console=ttyAMA0 nosplash break\n",
                          "append console=ttyAMA0 nosplash break mkmaster.sg=off\n")
        with open(os.path.join(cls.tmp, "lab-menu.in"), "w") as f:
            f.write(tpl)
        cls.tftp = os.path.join(cls.tmp, "tftp")
        t0 = time.monotonic()
        cmd = [cls.mkmaster, "build", "--out", cls.tftp, "--pxelinux-template",
               os.path.join(cls.tmp, "lab-menu.in")]
        if os.environ.get("MKMASTER_AGENT"):  # else the armhf agent of mkmaster's own build
            cmd += ["--agent", os.environ["MKMASTER_AGENT"]]
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"mkmaster build failed: {r.stderr}")
        MEASURED["mkmaster_build_s"] = round(time.monotonic() - t0, 1)
        with open(os.path.join(cls.tmp, "pw"), "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(os.path.join(cls.tmp, "pw"), 0o600)
        os.makedirs(os.path.join(cls.tmp, "device-types"))
        with open(os.path.join(cls.tmp, "device-types", "highbank.conf"), "w") as f:
            f.write("client_type = highbank\n")
        cls.inventory = os.path.join(cls.tmp, "lab.ini")
        with open(cls.inventory, "w") as f:
            f.write(f"[lab]\nnetwork = 192.0.2.0/24\ntftp_root = {cls.tftp}\n"
                    "device_types = device-types\ndevice_type = highbank\nbmc_user = admin\n"
                    "password_file = pw\n\n[machine 01]\n\n[node 01-01]\n"
                    "eth0_mac = fc:2f:40:01:01:00\neth0_ip = 192.0.2.11\nbmc = 127.0.0.2\n")
        cls.image = os.path.join(cls.tmp, "flash.img")
        cls.image_id = "master%d" % os.getpid()
        make_test_image.build_disk(cls.image, cls.image_id)
        cls.state = os.path.join(cls.tmp, "state")
        lab("up", "--inventory", cls.inventory, "--state", cls.state, "--disk-mib", "64",
            "--mkmaster", cls.mkmaster)
        cls.cfg = json.loads(read(os.path.join(cls.state, "lab.json")))

    @classmethod
    def tearDownClass(cls):
        lab("down", "--state", cls.state)
        leftover = lab_namespaces(cls.state)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        print("lab master measurements:", json.dumps(MEASURED), file=sys.stderr)
        assert not leftover, f"namespaces left behind: {leftover}"

    def test_master_image_pxe_network_flash_disk_boot(self):
        n = self.cfg["nodes"][0]
        self.assertEqual(self.cfg.get("dnsmasq_conf_from"), "mkmaster labfiles")
        bmc = driver.Bmc(self.cfg["ns"], n["name"], n["bmc_host"], n["bmc_port"], "admin", PASSWORD)
        t0 = time.monotonic()
        bmc.run("chassis", "power", "off")
        bmc.run("chassis", "bootdev", "pxe")
        bmc.run("chassis", "power", "on")
        sol = driver.Sol(bmc, os.path.join(self.tmp, "sol.log"))
        try:
            sol.resync(r"\(initrd\) ", 120, "master image shell after PXE")
            MEASURED["pxe_power_on_to_initrd_prompt_s"] = round(time.monotonic() - t0, 1)
            log = read(os.path.join(self.state, "nodes", n["name"], "console.log"))
            self.assertIn("Retrieving file: master/files/highbank/initrd.gz", log)
            self.assertIn("eth0: scatter-gather off", log)
            sol.send(". /scripts/functions; DEVICE=eth0 configure_networking; "
                     "ip -4 addr show eth0 | grep -c 192.0.2.11; echo N''ET-DONE\r")
            sol.expect(r"1\s+NET-DONE", 60, "configure_networking")
            sol.send("/sbin/lava-master-image-info; test -x /sbin/target-agent && echo A''GENT-OK\r")
            sol.expect(r"AGENT-OK", 20, "image contents")
            # The image's /bin/nc is netcat-openbsd (the seed's hook): busybox's has -e.
            sol.send("busybox nc -l -p 5000 -e dd of=/dev/sda bs=64k; sync; echo FLASH''-DONE\r")
            time.sleep(1)
            t1 = time.monotonic()
            r = subprocess.run(LAB + ["exec", "--state", self.state, "--", sys.executable, "-c",
                                      SENDER, "192.0.2.11", "5000", self.image],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            sol.expect(r"FLASH-DONE", 120, "flash over TCP")
            size = os.path.getsize(self.image)
            MEASURED["tcp_flash_MBps"] = round(size / (time.monotonic() - t1) / 1e6, 1)
            with open(self.image, "rb") as f:
                digest = hashlib.md5(f.read()).hexdigest()
            sol.send(f"head -c {size} /dev/sda | md5sum\r")
            sol.expect(digest, 60, "read back /dev/sda")
            bmc.run("chassis", "bootdev", "disk")
            bmc.run("chassis", "power", "reset")
            sol.expect(f"MKMASTER-FLASHED-{self.image_id}", 120, "boot the flashed disk")
            sol.expect(r"login: ", 30, "login prompt of the flashed system")
            MEASURED["end_to_end_s"] = round(time.monotonic() - t0, 1)
        finally:
            sol.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
