#!/usr/bin/env python3
"""Boot test of the master image: `mkmaster build --board NAME` (default
highbank), then boot the built vmlinuz + the board's dtb + initrd in
`qemu-system-arm -M <the profile's qemu_machine>` (as the
LAVA Highbank setup's pxelinux menu would: console=ttyAMA0 nosplash break) to the initrd
shell on ttyAMA0 and check what the LAVA Highbank setup's users do there.

Time-bounded: every wait has a timeout and the whole run is capped (default
210 s); QEMU is always killed. Exit 0 = pass, 1 = a check failed.
usage: boot_test.py MKMASTER [--board NAME] [--keep DIR] [--agent PATH] [-- EXTRA mkmaster build ARGS]
(e.g. `-- --hook hooks/master-extras --hook-missing=warn`: the LAVA Highbank setup's own hook)
"""
import argparse
import configparser
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time

DEADLINE = time.monotonic() + float(os.environ.get("BOOT_TEST_BUDGET", "210"))


class Console:
    """A tiny expect over QEMU's stdio serial (no pexpect needed)."""

    def __init__(self, proc, log):
        self.proc, self.log, self.buf = proc, log, b""

    def _read(self, until):
        while True:
            left = min(until, DEADLINE) - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if r:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    raise RuntimeError("QEMU exited (rc=%s)" % self.proc.poll())
                self.log.write(data)
                self.log.flush()
                self.buf += data
                return True

    def expect(self, pattern, timeout):
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        until = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                out = self.buf[: m.end()]
                self.buf = self.buf[m.end():]
                return out.decode(errors="replace"), m
            if not self._read(until) and time.monotonic() >= min(until, DEADLINE):
                raise TimeoutError("timed out waiting for %r; last output:\n%s"
                                   % (pattern, self.buf[-2000:].decode(errors="replace")))

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\r")
        self.proc.stdin.flush()

    def run(self, cmd, timeout=30):
        """Runs cmd in the initrd shell; returns (rc, output)."""
        self.send(cmd + '; echo "@@RC=$?@@"')
        out, m = self.expect(r"@@RC=(\d+)@@", timeout)
        self.expect(r"\(initrd\) ", 10)
        return int(m.group(1)), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mkmaster")
    ap.add_argument("--board", default="highbank", help="board profile (boards/NAME.ini)")
    ap.add_argument("--keep", help="keep the work directory here")
    ap.add_argument("--agent", default=os.environ.get("MKMASTER_AGENT"),
                    help="target-agent to embed (default: mkmaster's built-in default)")
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    args.build_args = extra
    work = args.keep or tempfile.mkdtemp(prefix="mkmaster-boot-")
    os.makedirs(work, exist_ok=True)
    try:
        return boot_and_check(args, work)
    finally:
        # The work directory goes whatever the outcome; --keep or
        # MKMASTER_KEEP_TMP=1 keep it, with the console log, for a post-mortem.
        if args.keep or os.environ.get("MKMASTER_KEEP_TMP", "0") not in ("", "0"):
            print(f"boot_test: kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def boot_and_check(args, work):
    out = os.path.join(work, "tftp")
    # The profile is INI with ConfigParser's rules (mkmaster/lab/ini_file.h).
    prof = configparser.ConfigParser(interpolation=None)
    prof.read(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "boards", args.board + ".ini"))
    board = prof["board"]
    cmd = [args.mkmaster, "build", "--board", args.board, "--out", out]
    if args.agent:
        cmd += ["--agent", args.agent]
    cmd += args.build_args
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, env=env, timeout=120)
    print("boot_test: mkmaster build took %.2f s" % (time.monotonic() - t0), flush=True)

    files = os.path.join(out, "master", board["tftp_dir"])
    menu = open(os.path.join(out, "master", "pxelinux.cfg", board["menu"])).read()
    append = re.search(r"^append (.*)$", menu, re.M).group(1)
    disk = os.path.join(work, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    qemu = ["qemu-system-arm", "-M", board["qemu_machine"], "-m", "1024", "-nographic",
            "-kernel", os.path.join(files, "vmlinuz"), "-dtb", os.path.join(files, board["dtb"]),
            "-initrd", os.path.join(files, "initrd.gz"),
            # The LAVA Highbank setup's menu line, plus the documented QEMU xgmac work-around.
            "-append", append + " mkmaster.sg=off",
            "-drive", "file=%s,if=none,format=raw,id=d0" % disk, "-device", "ide-hd,drive=d0,bus=ide.0",
            "-nic", "user,model=xgmac", "-nic", "none"]
    log = open(os.path.join(work, "console.log"), "wb")
    proc = subprocess.Popen(qemu, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    failures = []

    def check(name, ok, detail=""):
        print("boot_test: %-40s %s" % (name, "ok" if ok else "FAILED"), flush=True)
        if not ok:
            failures.append("%s\n%s" % (name, detail))

    try:
        t0 = time.monotonic()
        boot_log, _ = console_expect(Console(proc, log), proc, log)
        c = boot_log
        print("boot_test: shell prompt after %.1f s" % (time.monotonic() - t0), flush=True)
        check("modules loaded, no insmod failure of a needed driver",
              not re.search(r"(sata_highbank|xgmac|sd_mod|libata)\.ko not loaded", c.boot), c.boot[-3000:])
        check("mkmaster.sg=off applied on eth0", "eth0: scatter-gather off" in c.boot, c.boot[-3000:])
        rc, o = c.con.run("i=0; while [ ! -b /dev/sda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; ls -l /dev/sda")
        check("/dev/sda exists", rc == 0 and "/dev/sda" in o, o)
        rc, o = c.con.run(". /scripts/functions; DEVICE=eth0 configure_networking", timeout=60)
        check("DEVICE=eth0 configure_networking", rc == 0 and "10.0.2.15" in o, o)
        rc, o = c.con.run('echo "ip=$IPV4ADDR gw=$IPV4GATEWAY"; cat /etc/resolv.conf')
        check("IP variables exported, resolv.conf", "ip=10.0.2.15 gw=10.0.2.2" in o and "nameserver" in o, o)
        rc, o = c.con.run("bash --version")
        check("bash --version", rc == 0 and "GNU bash" in o, o)
        rc, o = c.con.run("parted --version")
        check("parted --version", rc == 0 and "GNU parted" in o, o)
        rc, o = c.con.run("busybox httpd --help 2>&1")
        check("busybox httpd --help", "httpd" in o and "Listen" in o, o)
        rc, o = c.con.run("/sbin/lava-master-image-info")
        check("/sbin/lava-master-image-info", rc == 0 and "2023.11.14-22.13.20 mkmaster" in o, o)
        rc, o = c.con.run("target-agent --version")
        check("target-agent --version", rc == 0 and "target-agent" in o, o)
    except (TimeoutError, RuntimeError) as e:
        failures.append(str(e))
    finally:
        proc.kill()
        proc.wait(timeout=10)
        log.close()
    if failures:
        print("boot_test: FAILED\n%s" % "\n".join(failures), file=sys.stderr)
        return 1
    print("boot_test: all checks passed")
    return 0


class Booted:
    def __init__(self, con, boot):
        self.con, self.boot = con, boot


def console_expect(con, proc, log):
    boot, _ = con.expect(r"\(initrd\) ", 150)
    # Settle: an empty command proves the shell reads our input.
    con.send("")
    con.expect(r"\(initrd\) ", 10)
    return Booted(con, boot), None


if __name__ == "__main__":
    sys.exit(main())
