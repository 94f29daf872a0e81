#!/usr/bin/env python3
"""End-to-end tests of the emulated lab, driven only through what a user
has: the real ipmitool (lanplus, -C 3, password via -E) against the lab's
ipmi_sim BMCs, the SOL console in a pty, and TCP from the lab network.

The PXE payload is the lab's own test initrd (make_test_image.py --net), so
these tests check the lab independently of `mkmaster build`; the image it
flashes is make_test_image.py's disk, recognised by its marker.

Needs root, the armhf sysroot (MKMASTER_CACHE) and the host packages of
scripts/setup-host.sh: it fails, never skips, when they are missing.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import driver  # noqa: E402
import make_test_image  # noqa: E402

LAB = [sys.executable, os.path.join(HERE, "lab.py")]
PASSWORD = "lab-Secret-1"
NODES = [("01", "fc:2f:40:01:01:00", "192.0.2.11", "127.0.0.2"),
         ("02", "fc:2f:40:01:02:00", "192.0.2.12", "127.0.0.3")]
# Generous per-step limits: 2 shared cores, TCG, other tests in parallel.
BOOT_TIMEOUT = 90
MEASURED = {}

SEED_MENU = """DEFAULT menu
PROMPT 0
MENU TITLE LAVA Master Image
TIMEOUT 20
ONTIMEOUT lava-master
LABEL lava-master
initrd files/highbank/initrd.gz
MENU LABEL lava-master
append console=ttyAMA0 nosplash break mkmaster.sg=off
kernel files/highbank/vmlinuz
"""


def lab(*args, check=True, timeout=120):
    r = subprocess.run(LAB + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"lab.py {' '.join(args)} failed ({r.returncode}): {r.stderr}")
    return r


def make_tree(tmp):
    tftp = os.path.join(tmp, "tftp")
    hb = os.path.join(tftp, "master", "files", "highbank")
    cfgdir = os.path.join(tftp, "master", "pxelinux.cfg")
    os.makedirs(hb)
    os.makedirs(cfgdir)
    vmlinuz, dtb = make_test_image.kernel_files()
    shutil.copy(vmlinuz, os.path.join(hb, "vmlinuz"))
    shutil.copy(dtb, os.path.join(hb, "highbank.dtb"))
    make_test_image.build_initrd(os.path.join(hb, "initrd.gz"), "MKMASTER-LAB-PXE", net=True)
    with open(os.path.join(cfgdir, "default-arm-highbank"), "w") as f:
        f.write(SEED_MENU)
    # Node 02 gets its own per-MAC config with a kernel that cannot boot:
    # the wrong-kernel failure test.
    with open(os.path.join(hb, "wrong-vmlinuz"), "wb") as f:
        f.write(b"\x00" * 4096 + os.urandom(4096))
    with open(os.path.join(cfgdir, "01-" + NODES[1][1].replace(":", "-")), "w") as f:
        f.write(SEED_MENU.replace("files/highbank/vmlinuz", "files/highbank/wrong-vmlinuz"))
    return tftp


def write_inventory(tmp, tftp):
    pw = os.path.join(tmp, "bmc-password")
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, PASSWORD.encode() + b"\n")
    os.close(fd)
    os.makedirs(os.path.join(tmp, "device-types"))
    with open(os.path.join(tmp, "device-types", "highbank.conf"), "w") as f:
        f.write("client_type = highbank\nconnection_command = ipmitool -I lanplus -C 3 "
                "-U %(bmc_user)s -E -H %(ecmeip)s sol activate\n")
    lines = ["[lab]", "network = 192.0.2.0/24", f"tftp_root = {tftp}", "device_types = device-types",
             "device_type = highbank", "bmc_user = admin", "password_file = bmc-password", "",
             "[machine 01]", ""]
    for num, mac, ip, bmc in NODES:
        lines += [f"[node 01-{num}]", f"eth0_mac = {mac}", f"eth0_ip = {ip}", f"bmc = {bmc}", ""]
    path = os.path.join(tmp, "lab.ini")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def lab_namespaces(state):
    sys.path.insert(0, HERE)
    import lab as labmod
    return labmod.list_namespaces(labmod.ns_prefix(state))


class LabTest(unittest.TestCase):
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
        cls.tmp = tempfile.mkdtemp(prefix="mkmaster-labtest-")
        cls.tftp = make_tree(cls.tmp)
        cls.inventory = write_inventory(cls.tmp, cls.tftp)
        cls.image = os.path.join(cls.tmp, "flash.img")
        cls.image_id = "lab%d" % os.getpid()
        make_test_image.build_disk(cls.image, cls.image_id)
        cls.state = os.path.join(cls.tmp, "state")
        t0 = time.monotonic()
        lab("up", "--inventory", cls.inventory, "--state", cls.state, "--disk-mib", "64")
        MEASURED["lab_up_s"] = round(time.monotonic() - t0, 2)
        cls.cfg = json.loads(read(os.path.join(cls.state, "lab.json")))

    @classmethod
    def tearDownClass(cls):
        # Keep the console logs of a failed run next to the test output.
        lab("down", "--state", cls.state, "--keep-logs")
        leftover = lab_namespaces(cls.state)
        for node in os.listdir(os.path.join(cls.state, "nodes")) if os.path.isdir(
                os.path.join(cls.state, "nodes")) else []:
            log = os.path.join(cls.state, "nodes", node, "console.log")
            if os.path.exists(log) and os.environ.get("MKLAB_SHOW_CONSOLE"):
                with open(log, errors="replace") as f:
                    print(f"---- {node} console ----\n" + f.read()[-3000:])
        shutil.rmtree(cls.tmp, ignore_errors=True)
        print("lab measurements:", json.dumps(MEASURED), file=sys.stderr)
        assert not leftover, f"namespaces left behind: {leftover}"

    def bmc(self, i):
        n = self.cfg["nodes"][i]
        return driver.Bmc(self.cfg["ns"], n["name"], n["bmc_host"], n["bmc_port"], "admin", PASSWORD)

    def transcript(self, i):
        return os.path.join(self.tmp, f"sol-{i}.log")

    def shell(self, sol, step):
        """From a login prompt to the shell; a sacrificial CR first
        (ipmi_sim may drop the first SOL packet of a session)."""
        sol.resync(r"login: ", BOOT_TIMEOUT, step)
        sol.send("root\r")
        sol.expect(r"\(initrd\) # ", 20, step + ": shell prompt")

    def run_cmd(self, sol, cmd, timeout=30):
        tag = "@%d@" % time.monotonic_ns()
        sol.send(f"{cmd}; echo {tag[:2]}''{tag[2:]}$?\r")
        m = sol.expect(tag.replace("@", r"\@") + r"(\d+)", timeout, f"run '{cmd}'")
        return int(m.group(1))

    # ------------------------------------------------------------------
    def test_1_pxe_shell_tcp_flash_disk_boot(self):
        bmc = self.bmc(0)
        t0 = time.monotonic()
        bmc.run("chassis", "power", "off")
        self.assertIn("off", bmc.run("chassis", "power", "status"))
        bmc.run("chassis", "bootdev", "pxe")
        bmc.run("chassis", "power", "on")
        self.assertIn("on", bmc.run("chassis", "power", "status"))
        sol = driver.Sol(bmc, self.transcript(0))
        try:
            self.shell(sol, "initrd prompt after PXE")
            MEASURED["pxe_power_on_to_shell_s"] = round(time.monotonic() - t0, 1)
            log = read(os.path.join(self.state, "nodes", self.cfg["nodes"][0]["name"], "console.log"))
            # What the emulated U-Boot did, on the node's console:
            self.assertIn("DHCP client bound to address 192.0.2.11", log)
            self.assertIn("Retrieving file: master/pxelinux.cfg/default-arm-highbank", log)
            self.assertIn("MKMASTER-LAB-PXE", log)
            self.assertIn("lab: eth0 sg off", log)
            self.assertEqual(self.run_cmd(sol, "ip -4 addr show eth0 | grep -q 192.0.2.11"), 0)
            # TCP into the guest: stream the test image onto /dev/sda.
            sol.send("nc -l -p 5000 -e dd of=/dev/sda bs=64k; sync; echo FLASH''-DONE\r")
            time.sleep(1)
            size = os.path.getsize(self.image)
            t1 = time.monotonic()
            sender = subprocess.run(
                LAB + ["exec", "--state", self.state, "--", sys.executable, "-c", SENDER,
                       "192.0.2.11", "5000", self.image], capture_output=True, text=True, timeout=120)
            self.assertEqual(sender.returncode, 0, sender.stderr)
            sol.expect(r"FLASH-DONE", 120, "flash over TCP")
            MEASURED["tcp_flash_MBps"] = round(size / (time.monotonic() - t1) / 1e6, 1)
            with open(self.image, "rb") as f:
                digest = hashlib.md5(f.read()).hexdigest()
            sol.send(f"head -c {size} /dev/sda | md5sum\r")
            sol.expect(digest, 60, "read back /dev/sda")
            # bootdev disk + reset: the flashed image must come up.
            t2 = time.monotonic()
            bmc.run("chassis", "bootdev", "disk")
            bmc.run("chassis", "power", "reset")
            sol.expect(f"MKMASTER-FLASHED-{self.image_id}", BOOT_TIMEOUT, "boot the flashed disk")
            sol.expect(r"flashed-\S+ login: ", 30, "login prompt of the flashed system")
            MEASURED["disk_reset_to_login_s"] = round(time.monotonic() - t2, 1)
            MEASURED["end_to_end_s"] = round(time.monotonic() - t0, 1)
            log = read(os.path.join(self.state, "nodes", self.cfg["nodes"][0]["name"], "console.log"))
            self.assertIn("Found /extlinux/extlinux.conf", log)
        finally:
            sol.close()

    def test_2_sol_deactivate_then_reconnect(self):
        bmc = self.bmc(0)
        if "on" not in bmc.run("chassis", "power", "status"):
            bmc.run("chassis", "bootdev", "disk")
            bmc.run("chassis", "power", "on")
        sol = driver.Sol(bmc, self.transcript(0))
        try:
            sol.resync(r"(login: |\(initrd\) # )", BOOT_TIMEOUT, "prompt before the fault")
            # The BMC drops the session (what `SOL session closed by BMC` is).
            bmc.run("sol", "deactivate")
            end = time.monotonic() + 15
            while sol.alive() and time.monotonic() < end:
                sol.send("\r")  # ipmitool only notices on its next send
                try:
                    sol.expect(r"SOL session closed by BMC", 1, "notice the dropped session")
                    break
                except driver.StepError:
                    pass
            with open(self.transcript(0), "rb") as f:
                self.assertIn(b"closed by BMC", sol.buf + f.read())
        finally:
            sol.close()
        # Reconnect, re-synchronise on the prompt, continue.
        sol = driver.Sol(bmc, self.transcript(0))
        try:
            m = sol.resync(r"(login: |\(initrd\) # )", 30, "prompt after reconnect")
            if b"login" in m.group(0):
                sol.send("root\r")
                sol.expect(r"\(initrd\) # ", 20, "shell after reconnect")
            self.assertEqual(self.run_cmd(sol, "test $((6*7)) = 42"), 0)
            # A reboot from inside goes through the (emulated) bootloader
            # again and honours the boot device, like a real node's.
            sol.send("reboot -f\r")
            sol.expect(r"U-Boot 2013\.01", 30, "bootloader after a guest reboot")
            sol.expect(r"Found /extlinux/extlinux\.conf", 30, "disk boot after a guest reboot")
            sol.expect(r"MKMASTER-FLASHED-", BOOT_TIMEOUT, "flashed system after a guest reboot")
        finally:
            sol.close()

    def test_3_wrong_kernel_never_reaches_prompt(self):
        bmc = self.bmc(1)
        bmc.run("chassis", "bootdev", "pxe")
        bmc.run("chassis", "power", "on")
        sol = driver.Sol(bmc, self.transcript(1))
        try:
            with self.assertRaises(driver.StepError) as cm:
                sol.expect(r"login: ", 25, "initrd prompt after PXE")
            msg = str(cm.exception)
            self.assertIn("calxeda01-02", msg)
            self.assertIn("step 'initrd prompt after PXE'", msg)
            self.assertIn("within 25s", msg)
            # It did PXE-boot the per-MAC config and started that kernel.
            log = read(os.path.join(self.state, "nodes", "calxeda01-02", "console.log"))
            self.assertIn("Retrieving file: master/pxelinux.cfg/01-fc-2f-40-01-02-00", log)
            self.assertIn("Retrieving file: master/files/highbank/wrong-vmlinuz", log)
            self.assertNotIn("Linux version", log)
        finally:
            sol.close()
            bmc.run("chassis", "power", "off")

    def test_3b_blank_disk_stays_in_bootloader(self):
        bmc = self.bmc(1)
        bmc.run("chassis", "bootdev", "disk")
        bmc.run("chassis", "power", "on")
        log = os.path.join(self.state, "nodes", "calxeda01-02", "console.log")
        end = time.monotonic() + 20
        while "## Boot failed" not in read(log) and time.monotonic() < end:
            time.sleep(0.2)
        self.assertIn("## Boot failed: disk ", read(log))
        self.assertIn("no MBR partition table (the disk is blank or not flashed)", read(log))
        self.assertIn("on", bmc.run("chassis", "power", "status"))  # on, in U-Boot
        bmc.run("chassis", "power", "off")
        self.assertIn("off", bmc.run("chassis", "power", "status"))

    def test_4_bmc_down_gives_clear_error(self):
        bmc = self.bmc(1)
        lab("bmc", "--state", self.state, "stop", "calxeda01-02")
        try:
            with self.assertRaises(driver.StepError) as cm:
                bmc.run("chassis", "power", "status", step="power status", retries=1)
            msg = str(cm.exception)
            self.assertIn("node calxeda01-02: power status: BMC 127.0.0.3:623 failed", msg)
            self.assertIn("Unable to establish", msg)
            status = lab("status", "--state", self.state, check=False)
            self.assertEqual(status.returncode, 1)
            self.assertIn("DEAD", status.stdout)
        finally:
            lab("bmc", "--state", self.state, "start", "calxeda01-02")
        self.assertIn("off", bmc.run("chassis", "power", "status"))

    def test_5_down_after_crash_leaves_nothing(self):
        state = os.path.join(self.tmp, "crash-state")
        inv = os.path.join(self.tmp, "one.ini")
        text = read(self.inventory).split("[node 01-02]")[0]
        with open(inv, "w") as f:
            f.write(text)
        lab("up", "--inventory", inv, "--state", state)
        cfg = json.loads(read(os.path.join(state, "lab.json")))
        n = cfg["nodes"][0]
        bmc = driver.Bmc(cfg["ns"], n["name"], n["bmc_host"], n["bmc_port"], "admin", PASSWORD)
        bmc.run("chassis", "bootdev", "pxe")
        bmc.run("chassis", "power", "on")  # a QEMU child of labd is running
        end = time.monotonic() + 30
        while time.monotonic() < end:
            procs = json.loads(lab("status", "--state", state, "--json").stdout)["processes"]
            if "qemu-" + n["name"] in procs:
                break
            time.sleep(0.2)
        pids = json.loads(lab("status", "--state", state, "--json").stdout)["processes"]
        self.assertIn("qemu-" + n["name"], pids)
        os.kill(pids["labd"]["pid"], signal.SIGKILL)  # the lab daemon crashes
        status = lab("status", "--state", state, check=False)
        self.assertEqual(status.returncode, 1)
        self.assertIn("lab daemon unreachable", status.stdout)
        self.assertTrue(lab_namespaces(state))
        lab("down", "--state", state)
        self.assertEqual(lab_namespaces(state), [])
        self.assertFalse(os.path.exists(state))
        import lab as labmod
        for name, p in pids.items():
            self.assertFalse(labmod.pid_alive(p["pid"]), f"{name} (pid {p['pid']}) survived")
        # down twice is harmless
        self.assertEqual(lab("down", "--state", state).returncode, 0)


SENDER = r"""
import socket, sys, time
host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
end = time.monotonic() + 30
while True:
    try:
        s = socket.create_connection((host, port), timeout=5)
        break
    except OSError:
        if time.monotonic() > end:
            raise
        time.sleep(0.3)
s.settimeout(60)
with open(path, "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        s.sendall(b)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
"""

if __name__ == "__main__":
    unittest.main(verbosity=2)
