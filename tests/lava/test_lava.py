#!/usr/bin/python3
"""LAVA's own lava-run flashes, boots and tests an emulated Highbank node
through the device dictionary that `mkmaster labfiles` writes (docs/lava.md).

One lab (tests/lab/lab.py: QEMU -M highbank behind ipmi_sim and dnsmasq in
network namespaces), one node, two lava-run jobs run inside the lab network:

1. a job whose image URL does not exist: LAVA 2023.01 itself refuses it
   while validating (it checks and downloads flasher images itself), no
   command touches the node; a job whose image downloads but is corrupt:
   its deploy action fails with mkmaster's error (check-image) before the
   node is touched, and LAVA's finalize powers it off — the next job uses it;
2. deploy to flasher (`mkmaster push {IMAGE} NODE --lava --leave-off`), boot
   (minimal: LAVA connects `mkmaster console`, resets with mkmaster power
   off+on, sees the kernel start and logs in), an interactive test that runs
   a command on the flashed system and matches its output: lava-run exits 0
   and every result LAVA logs passed.

The device is rendered with LAVA's own templates and checked with its device
schema first (render_device.py). Prints each action's time from LAVA's
results. Needs root, the lab's host packages, the armhf sysroot and
scripts/setup-lava.sh; fails, never skips, without them. MKMASTER_BIN names
the mkmaster binary; MKMASTER_KEEP_TMP=1 keeps the work directory.
"""

import http.server  # noqa: F401  (the server runs as `python3 -m http.server`)
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LAB_DIR = os.path.join(ROOT, "tests", "lab")
sys.path.insert(0, LAB_DIR)
sys.path.insert(0, HERE)
import render_device  # noqa: E402

LAB = os.path.join(LAB_DIR, "lab.py")
PASSWORD = "lava-Bmc-Secret-7"
NODE = "calxeda01-01"
HTTP_PORT = 8480


def run(cmd, timeout, check=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}")
    return r


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def job(image_url, test=True):
    """A LAVA v2 job for the dictionary's node; the flasher gets {IMAGE}."""
    actions = [{"deploy": {"to": "flasher", "timeout": {"minutes": 4},
                           "images": {"image": {"url": image_url}}}}]
    if test:
        actions += [
            {"boot": {"method": "minimal", "timeout": {"minutes": 3},
                      "auto_login": {"login_prompt": "login:", "username": "root"},
                      "prompts": ["\\(initrd\\) # "]}},
            {"test": {"timeout": {"minutes": 2},
                      "interactive": [{
                          "name": "flashed-system", "prompts": ["\\(initrd\\) # "],
                          "script": [{"command": "cat /proc/cmdline", "name": "image-id",
                                      "successes": [{"message": "mkmaster.image=@ID@"}]}]}]}},
        ]
    return {"device_type": "highbank", "job_name": "mkmaster lab", "priority": "medium",
            "visibility": "public",
            "timeouts": {"job": {"minutes": 10}, "action": {"minutes": 4}, "connection": {"minutes": 2}},
            "actions": actions}


class LavaInLab(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        try:
            cls._set_up()
        except BaseException:
            cls._tear_down()
            raise

    @classmethod
    def _set_up(cls):
        cls.http = None
        cls.state = None
        cls.mkmaster = os.environ.get("MKMASTER_BIN")
        if not cls.mkmaster or not os.access(cls.mkmaster, os.X_OK):
            raise RuntimeError(f"MKMASTER_BIN must name the built mkmaster binary (got {cls.mkmaster!r})")
        cls.lava_run = shutil.which("lava-run")
        if not cls.lava_run:
            raise RuntimeError("no lava-run: run scripts/setup-lava.sh")
        cls.tmp = tempfile.mkdtemp(prefix="mkmaster-lava-")
        print(f"test_lava: work directory {cls.tmp}", file=sys.stderr)
        t = cls.tmp
        # The master image with the lab's boot option for QEMU's xgmac (docs/lab.md).
        menu = read(os.path.join(ROOT, "pxelinux", "default-arm.in")).replace(
            "append @APPEND@\n", "append @APPEND@ mkmaster.sg=off\n")
        assert "mkmaster.sg=off" in menu
        with open(os.path.join(t, "menu.in"), "w") as f:
            f.write(menu)
        build = [cls.mkmaster, "build", "--out", os.path.join(t, "tftp"), "--pxelinux-template",
                 os.path.join(t, "menu.in")]
        if os.environ.get("MKMASTER_AGENT"):
            build += ["--agent", os.environ["MKMASTER_AGENT"]]
        run(build, 180, cwd=ROOT)
        old = os.umask(0o077)
        with open(os.path.join(t, "bmc-password"), "w") as f:
            f.write(PASSWORD + "\n")
        os.umask(old)
        os.makedirs(os.path.join(t, "device-types"))
        with open(os.path.join(t, "device-types", "highbank.conf"), "w") as f:
            f.write("client_type = highbank\n")
        cls.inventory = os.path.join(t, "lab.ini")
        with open(cls.inventory, "w") as f:
            f.write(f"[lab]\nnetwork = 192.0.2.0/24\ntftp_root = {t}/tftp\ndevice_types = device-types\n"
                    "device_type = highbank\nbmc_user = admin\npassword_file = bmc-password\n\n"
                    "[machine 01]\n\n[node 01-01]\neth0_mac = fc:2f:40:01:01:00\neth0_ip = 192.0.2.11\n"
                    "bmc = 127.0.0.2\n")
        cls.image_id = f"lava{os.getpid()}"
        www = os.path.join(t, "www")
        os.makedirs(www)
        run([sys.executable, os.path.join(LAB_DIR, "make_test_image.py"), "disk", os.path.join(www, "test.img"),
             "--id", cls.image_id], 120)
        with open(os.path.join(www, "corrupt.img.gz"), "wb") as f:
            f.write(b"\x1f\x8b\x08\x00" + b"not a deflate stream" * 8)
        # The lab network has no default route: tell LAVA the worker's address.
        cls.dispatcher = os.path.join(t, "dispatcher.yaml")
        with open(cls.dispatcher, "w") as f:
            f.write("dispatcher_ip: 192.0.2.1\n")
        # The dictionary, as a lab admin writes it, rendered as lava-server does.
        run([cls.mkmaster, "labfiles", "--inventory", cls.inventory, "--out", os.path.join(t, "labfiles"),
             "--lava-mkmaster", cls.mkmaster, "--lava-log-dir", os.path.join(t, "logs")], 30)
        cls.dictionary = os.path.join(t, "labfiles", "lava", "devices", NODE + ".jinja2")
        types, py = render_device.lava_paths(render_device.DEFAULT_ROOT)
        sys.path.insert(0, py)
        text, cls.device = render_device.check(cls.dictionary, types)
        cls.device_yaml = os.path.join(t, "device.yaml")
        with open(cls.device_yaml, "w") as f:
            f.write(text)
        os.makedirs("/var/lib/lava/dispatcher/tmp", exist_ok=True)
        cls.state = os.path.join(t, "lab")
        run([sys.executable, LAB, "up", "--inventory", cls.inventory, "--state", cls.state,
             "--mkmaster", cls.mkmaster], 120)
        # The image server, in the lab network like the worker's downloads.
        cls.http = subprocess.Popen(
            [sys.executable, LAB, "exec", "--state", cls.state, "--", "/usr/bin/python3", "-m", "http.server",
             str(HTTP_PORT), "--bind", "127.0.0.1", "--directory", www],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cls.wait_http()

    @classmethod
    def wait_http(cls):
        end = time.monotonic() + 20
        while time.monotonic() < end:
            r = run([sys.executable, LAB, "exec", "--state", cls.state, "--", "/usr/bin/python3", "-c",
                     f"import socket; socket.create_connection(('127.0.0.1', {HTTP_PORT}), 1)"], 10, check=False)
            if r.returncode == 0:
                return
            if cls.http.poll() is not None:
                raise RuntimeError(f"http server exited {cls.http.returncode}")
            time.sleep(0.2)
        raise RuntimeError("http server not listening after 20 s")

    @classmethod
    def _tear_down(cls):
        if getattr(cls, "http", None) and cls.http.poll() is None:
            cls.http.terminate()
            try:
                cls.http.wait(5)
            except subprocess.TimeoutExpired:
                cls.http.kill()
                cls.http.wait(5)
        if getattr(cls, "state", None):
            run([sys.executable, LAB, "down", "--state", cls.state, "--keep-logs"], 60, check=False)
        if getattr(cls, "tmp", None):
            if os.environ.get("MKMASTER_KEEP_TMP", "0") != "0":
                print(f"test_lava: kept {cls.tmp}", file=sys.stderr)
            else:
                shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def tearDownClass(cls):
        cls._tear_down()

    def lava(self, name, definition, timeout):
        """Runs lava-run in the lab network; returns (exit, log text, results)."""
        path = os.path.join(self.tmp, name + ".yaml")
        with open(path, "w") as f:
            f.write(yaml.safe_dump(definition).replace("@ID@", self.image_id))
        out = os.path.join(self.tmp, "lava-" + name)
        job_id = str(1 + sum(1 for n in os.listdir(self.tmp) if n.startswith("lava-") and n.endswith(".log")))
        t0 = time.monotonic()
        r = run([sys.executable, LAB, "exec", "--state", self.state, "--", self.lava_run, "--job-id", job_id,
                 "--output-dir", out, "--device", self.device_yaml, "--dispatcher", self.dispatcher, path], timeout, check=False)
        print(f"test_lava: job {name}: lava-run exited {r.returncode} after {time.monotonic() - t0:.1f} s",
              file=sys.stderr)
        with open(os.path.join(self.tmp, f"lava-{name}.log"), "w") as f:
            f.write(r.stdout)
        # lava-run standalone logs each result as a "results" line (its
        # output directory only holds the job's overall result.yaml).
        results = []
        for line in r.stdout.splitlines():
            if '"lvl": "results"' in line:
                results.append(yaml.safe_load(line)["msg"])
        return r.returncode, r.stdout, results

    def power_status(self):
        r = run([sys.executable, LAB, "exec", "--state", self.state, "--", self.mkmaster, "power", "status", NODE,
                 "--inventory", self.inventory], 60)
        return r.stdout.strip()

    def assert_no_password(self, *texts):
        for t in texts:
            self.assertNotIn(PASSWORD, t)

    def test_1_dictionary_renders_to_a_valid_device_that_names_mkmaster(self):
        d = self.device
        flasher = d["actions"]["deploy"]["methods"]["flasher"]["commands"]
        self.assertEqual(flasher, [f"{self.mkmaster} push {{IMAGE}} {NODE} --inventory {self.inventory} "
                                   f"--log-dir {self.tmp}/logs --lava --leave-off"])
        self.assertIn(f"{self.mkmaster} console {NODE}", d["commands"]["connect"])
        self.assertEqual(len(d["commands"]["hard_reset"]), 2)
        self.assertIn("minimal", d["actions"]["boot"]["methods"])
        self.assert_no_password(read(self.dictionary), read(self.device_yaml))

    def test_2_missing_or_corrupt_image_fails_and_leaves_the_node_usable(self):
        # LAVA 2023.01 checks every image URL itself (an HTTP HEAD while it
        # validates the job) and downloads it for the flasher: a missing one
        # fails the job before any action runs, and no command touches the node.
        rc, log, results = self.lava("missing", job(f"http://127.0.0.1:{HTTP_PORT}/no-such.img", test=False), 120)
        self.assertNotEqual(rc, 0, log[-3000:])
        self.assertIn("Resource unavailable at 'http://127.0.0.1:8480/no-such.img' (404)", log)
        self.assertEqual({r.get("case"): r.get("result") for r in results}.get("validate"), "fail", results)
        self.assertNotIn("mkmaster", log)
        # An image that downloads but is not what it says (a corrupt .gz):
        # the deploy action fails with mkmaster's error, before the node is
        # touched, and LAVA's finalize powers the node off.
        rc, log, results = self.lava("corrupt", job(f"http://127.0.0.1:{HTTP_PORT}/corrupt.img.gz", test=False), 120)
        self.assertNotEqual(rc, 0, log[-3000:])
        cases = {r.get("case"): r.get("result") for r in results}
        self.assertTrue(any("flasher" in c and v == "fail" for c, v in cases.items()), cases)
        self.assertIn("Unable to flash the device", log)
        self.assertIn(f"mkmaster: {NODE}: check-image: FAIL after", log)
        self.assertIn("corrupt gzip data", log)
        self.assertIn(f"mkmaster: error: {NODE}: step check-image failed", log)
        self.assertNotIn(f"mkmaster: {NODE}: power-off: start", log)
        self.assertEqual(cases.get("power-off"), "pass", results)
        self.assertIn(": off", self.power_status())
        self.assert_no_password(log)

    def test_3_flash_boot_and_test_pass(self):
        rc, log, results = self.lava("flash", job(f"http://127.0.0.1:{HTTP_PORT}/test.img"), 600)
        self.assertEqual(rc, 0, log[-5000:])
        self.assertTrue(results)
        bad = [r for r in results if r.get("result") != "pass"]
        self.assertFalse(bad, bad)
        cases = {r.get("case"): r.get("result") for r in results}
        # The download, LAVA's reset (mkmaster power off + on), its login on
        # the flashed system, the interactive test case, the job.
        for case in ("http-download", "pdu-reboot", "login-action", "image-id", "job"):
            self.assertEqual(cases.get(case), "pass", (case, cases))
        for action in ("1 deploy-flasher-retry", "2 minimal-boot", "3 lava-test-interactive-retry"):
            self.assertIn(f'"msg": "end: {action} (duration', log)
        # mkmaster's step lines and its result, in LAVA's log.
        self.assertIn(f"mkmaster: {NODE}: leave-off: pass", log)
        self.assertIn(f"mkmaster: {NODE}: result: pass", log)
        # The console showed the flashed system's whole boot.
        self.assertIn(f"MKMASTER-FLASHED-{self.image_id}", log)
        # The push had ended its SOL session: LAVA's console found none to
        # take over (ipmitool sol deactivate exits 1 when none is active),
        # and LAVA's disconnect ended the console cleanly.
        transcript = read(os.path.join(self.tmp, "logs", NODE + ".console.log"))
        self.assertRegex(transcript, r"# take over: ipmitool .* sol deactivate: exit 1\n")
        self.assertIn("# signal: ending the session", transcript)
        self.assert_no_password(log)
        # Each top-level action's time, from LAVA's own log.
        for m in re.finditer(r'"msg": "end: (\d+) ([a-z-]+) \(duration (\d\d:\d\d:\d\d)\)', log):
            print(f"test_lava: LAVA action {m.group(1)} {m.group(2)}: {m.group(3)}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
