#!/usr/bin/env python3
"""The real master image in the lab: `mkmaster build` writes the TFTP tree,
`mkmaster labfiles` the dnsmasq.conf; a node PXE-boots the image, reaches
its `(initrd) ` shell over SOL, runs the LAVA Highbank setup's `. /scripts/functions;
DEVICE=eth0 configure_networking`, starts the embedded target-agent with a
one-time secret typed over the console, receives a test image from
`mkmaster push` over TCP onto /dev/sda (read back independently with md5)
and, after bootdev disk + reset, boots it.

Then the flash pipeline itself, `mkmaster push IMAGE NODE --inventory`, with
the LAVA Highbank page's highbank.conf taken as it is (its
`connection_command` carries `-U admin -P admin`), while every process's
/proc/<pid>/cmdline is sampled: once interrupted by SIGINT in the middle of
its stream (the defined state: SOL free, no child left, PXE and power off),
then to the end, until the node boots the flashed disk.

MKMASTER_BIN names the mkmaster binary (ctest sets it to the built target);
the armhf target-agent is the one `mkmaster build` embeds by default, or
MKMASTER_AGENT.
Fails, never skips, when something is missing.
"""

import hashlib
import json
import os
import re
import secrets
import signal
import shutil
import subprocess
import sys
import tempfile
import threading
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
# The device type of the LAVA Highbank page, word for word.
SEED_HIGHBANK_CONF = ("client_type = highbank\n"
                      "connection_command = ipmitool -I lanplus -U admin -P admin -H %(ecmeip)s sol activate\n")
# mkmaster's one-time secrets: 32 random bytes in hex.
SECRET_RE = re.compile(rb"\b[0-9a-f]{64}\b")


def proc_table():
    """pid -> (ppid, start time, cmdline) of every process now."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ")
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        out[int(name)] = (int(fields[1]), fields[19], cmd)
    return out


class Sampler:
    """Samples every process's command line every 10 ms while a command
    runs: what a local user sees in /proc/<pid>/cmdline (mode 444). Records
    the command's descendants, to check that none outlives it."""

    def __init__(self, root_pid, forbidden):
        self.root, self.forbidden = root_pid, forbidden
        self.samples = self.ipmitool = 0
        self.leaks, self.descendants = [], {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 600
        while not self.done.is_set() and time.monotonic() < deadline:
            table = proc_table()
            for pid, (ppid, start, cmd) in table.items():
                if b"ipmitool" in cmd:
                    self.ipmitool += 1
                    if re.search(rb"(^|\s)-P(\s|$)", cmd):
                        self.leaks.append(cmd)
                if any(f in cmd for f in self.forbidden):
                    self.leaks.append(cmd)
                p, hops = ppid, 0
                while p and p != self.root and p in table and hops < 20:
                    p, hops = table[p][0], hops + 1
                if p == self.root and pid != self.root:
                    self.descendants[pid] = (start, cmd)
            self.samples += 1
            time.sleep(0.01)

    def stop(self):
        self.done.set()
        self.thread.join()

    def survivors(self):
        table = proc_table()
        return [cmd for pid, (start, cmd) in self.descendants.items()
                if pid in table and table[pid][1] == start]


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
            f.write(SEED_HIGHBANK_CONF)
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

    def pipeline(self, *extra, interrupt_at=None, timeout=420):
        """`mkmaster push IMAGE calxeda01-01 --inventory … --json` in the lab,
        sampled; with interrupt_at, SIGINT to its process group once that
        step starts."""
        logs = os.path.join(self.tmp, "logs-" + (interrupt_at or "full"))
        p = subprocess.Popen(LAB + ["exec", "--state", self.state, "--", self.mkmaster, "push", self.image,
                                    "calxeda01-01", "--inventory", self.inventory, "--json", "--log-dir", logs,
                                    *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        sampler = Sampler(p.pid, [PASSWORD.encode()])
        err = []
        reader = threading.Thread(target=lambda: err.append(p.stderr.read()), daemon=True)
        reader.start()
        timer = threading.Timer(timeout, p.kill)
        timer.start()
        events, out = [], b""
        try:
            for line in p.stdout:
                out += line
                e = json.loads(line)
                events.append(e)
                if interrupt_at and e.get("step") == interrupt_at and e.get("event") == "start":
                    # As Ctrl-C in a terminal: to the whole foreground
                    # process group, ipmitool children included.
                    os.killpg(p.pid, signal.SIGINT)
            rc = p.wait()
        finally:
            timer.cancel()
            reader.join()
            sampler.stop()
        text = out + err[0]
        for root, _, files in os.walk(logs):
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    text += fh.read()
        with open(os.path.join(self.state, "nodes", "calxeda01-01", "console.log"), "rb") as fh:
            text += fh.read()
        return rc, events, text, sampler, err[0].decode(errors="replace")

    def check_clean(self, text, sampler):
        self.assertGreater(sampler.samples, 50)
        self.assertGreater(sampler.ipmitool, 0, "the sampler never saw an ipmitool")
        self.assertEqual(sampler.leaks, [], "a password in a command line")
        self.assertNotIn(PASSWORD.encode(), text)
        self.assertNotIn(b"-P admin", text)
        self.assertEqual(SECRET_RE.findall(text), [], "a one-time secret in a log, a transcript or --json")

    def test_pipeline_1_sigint_mid_stream_leaves_the_defined_state(self):
        n = self.cfg["nodes"][0]
        t0 = time.monotonic()
        rc, events, text, sampler, err = self.pipeline(interrupt_at="stream-image")
        MEASURED["pipeline_to_sigint_s"] = round(time.monotonic() - t0, 1)
        self.assertEqual(rc, 130, err)
        stopped = [e for e in events if e.get("event") == "interrupted"]
        self.assertEqual(len(stopped), 1, events)
        self.assertIn(stopped[0]["step"], ("stream-image", "verify"))
        self.assertEqual(stopped[0]["message"], "SIGINT")
        result = events[-1]
        self.assertEqual(result.get("result"), "fail")
        self.assertIn("SOL session closed, boot device pxe, powered off", result["message"])
        self.assertEqual(sampler.survivors(), [], "a child of mkmaster outlived it")
        self.check_clean(text, sampler)
        # The node: off (the agent and its secret went with the RAM), and
        # set to boot PXE, so the partly written disk never boots.
        bmc = driver.Bmc(self.cfg["ns"], n["name"], n["bmc_host"], n["bmc_port"], "admin", PASSWORD)
        self.assertIn("off", bmc.run("chassis", "power", "status"))
        self.assertEqual(read(os.path.join(self.state, "nodes", n["name"], "bootdev")).strip(), "pxe")
        # The SOL payload is free: a new `sol activate` holds the console.
        sol = driver.Sol(bmc, os.path.join(self.tmp, "sol-after-sigint.log"))
        try:
            time.sleep(2)
            self.assertTrue(sol.alive(), sol.buf.decode(errors="replace"))
        finally:
            sol.close()

    def test_pipeline_2_full_push_until_the_disk_boots(self):
        t0 = time.monotonic()
        rc, events, text, sampler, err = self.pipeline("--wait-login")
        MEASURED["pipeline_full_s"] = round(time.monotonic() - t0, 1)
        self.assertEqual(rc, 0, err)
        done = [e["step"] for e in events if e.get("event") == "done"]
        for step in ("power-off", "bootdev-pxe", "boot-master", "send-secret", "stream-image", "verify",
                     "bootdev-disk", "power-reset", "wait-login"):
            self.assertIn(step, done)
        self.assertEqual(events[-1].get("result"), "pass", events[-1])
        self.assertEqual(sampler.survivors(), [])
        self.check_clean(text, sampler)
        log = read(os.path.join(self.state, "nodes", "calxeda01-01", "console.log"))
        self.assertIn(f"MKMASTER-FLASHED-{self.image_id}", log)


if __name__ == "__main__":
    unittest.main(verbosity=2)
