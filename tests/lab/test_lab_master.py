#!/usr/bin/env python3
"""The real master image in the lab: `mkmaster build` writes the TFTP tree,
`mkmaster labfiles` the dnsmasq.conf; a node PXE-boots the image, reaches
its `(initrd) ` shell over SOL, runs the LAVA Highbank setup's `. /scripts/functions;
DEVICE=eth0 configure_networking`, starts the embedded target-agent with a
one-time secret typed over the console, receives a test image from
`mkmaster push` over TCP onto /dev/sda (read back independently with md5)
and, after bootdev disk + reset, boots it.

MKMASTER_BIN names the mkmaster binary (ctest sets it to the built target);
the armhf target-agent is the one `mkmaster build` embeds by default, or
MKMASTER_AGENT.
Fails, never skips, when something is missing.
"""

import hashlib
import json
import os
import secrets
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
        # unittest skips tearDownClass when setUpClass fails: clean up here.
        try:
            cls._set_up()
        except BaseException:
            if getattr(cls, "state", None):
                lab("down", "--state", cls.state, check=False)
            if getattr(cls, "tmp", None):
                shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def _set_up(cls):
        cls.mkmaster = os.environ.get("MKMASTER_BIN")
        if not cls.mkmaster or not os.access(cls.mkmaster, os.X_OK):
            raise RuntimeError("MKMASTER_BIN must name the built mkmaster binary "
                               f"(got {cls.mkmaster!r})")
        cls.tmp = tempfile.mkdtemp(prefix="mkmaster-labmaster-")
        # The lab's template: the project's menu plus the image's documented
        # boot option for QEMU's xgmac (docs/lab.md).
        tpl = read(os.path.join(ROOT, "pxelinux", "default-arm.in"))
        if "append @APPEND@\n" not in tpl:
            raise RuntimeError("pxelinux/default-arm.in: no 'append @APPEND@' line")
        tpl = tpl.replace("append @APPEND@\n", "append @APPEND@ mkmaster.sg=off\n")
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
            # The product's data path: target-agent on the node, a one-time
            # secret typed over the console (not echoed), `mkmaster push`
            # from the lab network over TCP.
            secret = secrets.token_hex(16)
            host_secret = os.path.join(self.tmp, "agent.secret")
            fd = os.open(host_secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.write(fd, secret.encode() + b"\n")
            os.close(fd)
            # Echo off before the marker, so the secret is never echoed.
            sol.send("umask 077; stty -echo; echo R''EADY; IFS= read -r k; stty echo; "
                     "printf '%s\\n' \"$k\" > /tmp/agent.secret; k=; echo S''ECRET-STORED\r")
            sol.expect(r"READY", 20, "console ready for the secret")
            sol.send(secret + "\r")
            sol.expect(r"SECRET-STORED", 20, "store the agent secret")
            sol.send("/sbin/target-agent serve --listen 0.0.0.0:7433 --secret-file /tmp/agent.secret "
                     "--target /dev/sda </dev/null >/tmp/agent.log 2>&1 & "
                     "for i in 1 2 3 4 5 6 7 8 9 10; do netstat -ltn | grep -q ':7433 ' && break; "
                     "sleep 1; done; netstat -ltn | grep -q ':7433 ' && echo A''GENT-UP || "
                     "{ cat /tmp/agent.log; echo A''GENT-DOWN; }\r")
            m = sol.expect(r"AGENT-(UP|DOWN)", 30, "start target-agent")
            self.assertEqual(m.group(1), b"UP", sol.buf.decode(errors="replace"))
            size = os.path.getsize(self.image)
            t1 = time.monotonic()
            r = subprocess.run(LAB + ["exec", "--state", self.state, "--", self.mkmaster, "push",
                                      self.image, "--agent", "192.0.2.11:7433",
                                      "--secret-file", host_secret, "--target", "/dev/sda", "--json"],
                               capture_output=True, text=True, timeout=240)
            self.assertEqual(r.returncode, 0, f"mkmaster push: {r.stderr}\n{r.stdout[-2000:]}")
            MEASURED["agent_push_s"] = round(time.monotonic() - t1, 1)
            MEASURED["agent_push_MBps"] = round(size / (time.monotonic() - t1) / 1e6, 1)
            self.assertNotIn(secret, read(os.path.join(self.state, "nodes", n["name"], "console.log")))
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
