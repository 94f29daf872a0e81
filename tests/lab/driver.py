"""A small test driver for the lab: ipmitool calls and an SOL console in a
pty, with per-step timeouts whose errors name node and step.

This is test code for the lab itself (tests/lab/test_lab.py); the product's
console automation is mkmaster/node.  Like a user, it only uses the real
`ipmitool -I lanplus -C 3` against the lab's BMCs, run inside the lab's
network namespace; the password travels in IPMI_PASSWORD (`-E`).
"""

import os
import pty
import re
import select
import subprocess
import time


class StepError(Exception):
    pass


class Bmc:
    def __init__(self, ns, node, host, port, user, password):
        self.ns, self.node, self.host, self.port = ns, node, host, port
        self.user, self.password = user, password

    def argv(self, *args, retries=None):
        cmd = ["ip", "netns", "exec", self.ns, "ipmitool", "-I", "lanplus", "-C", "3",
               "-H", self.host, "-p", str(self.port), "-U", self.user, "-E"]
        if retries is not None:
            cmd += ["-R", str(retries), "-N", "1"]
        return cmd + list(args)

    def env(self):
        return dict(os.environ, IPMI_PASSWORD=self.password)

    def run(self, *args, step=None, timeout=30, retries=None):
        step = step or " ".join(args)
        try:
            r = subprocess.run(self.argv(*args, retries=retries), env=self.env(), capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StepError(f"node {self.node}: {step}: ipmitool timed out after {timeout}s "
                            f"(BMC {self.host}:{self.port})") from None
        if r.returncode != 0:
            raise StepError(f"node {self.node}: {step}: BMC {self.host}:{self.port} failed: "
                            f"{(r.stderr or r.stdout).strip()}")
        return r.stdout


class Sol:
    """`ipmitool ... sol activate` in a pty."""

    def __init__(self, bmc, transcript=None):
        self.bmc = bmc
        self.buf = b""
        self.transcript = open(transcript, "ab") if transcript else None
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe("ip", self.bmc.argv("sol", "activate"), self.bmc.env())
        self.pid, self.fd = pid, fd
        self.exited = False
        self.expect(r"\[SOL Session operational", 15, "sol activate")

    def _read(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        if not data:
            return False
        if self.transcript:
            self.transcript.write(data)
            self.transcript.flush()
        self.buf += data
        return True

    def alive(self):
        if not self.exited and os.waitpid(self.pid, os.WNOHANG)[0] != 0:
            self.exited = True
        return not self.exited

    def expect(self, pattern, timeout, step):
        """Wait for PATTERN (a regex on the decoded output); consume up to it."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        end = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = end - time.monotonic()
            if left <= 0:
                tail = self.buf[-300:].decode(errors="replace")
                raise StepError(f"node {self.bmc.node}: step '{step}': no {pattern!r} on the "
                                f"console within {timeout:.0f}s; last output: {tail!r}")
            if not self._read(min(left, 0.5)):
                tail = self.buf[-300:].decode(errors="replace")
                raise StepError(f"node {self.bmc.node}: step '{step}': SOL session ended: {tail!r}")

    def resync(self, pattern, timeout, step, every=2.0):
        """Press Enter until PATTERN shows: ipmi_sim drops the first SOL
        packet of a new session when its sequence number repeats (lab-notes),
        so a single keystroke may never arrive."""
        end = time.monotonic() + timeout
        while True:
            self.send("\r")
            left = end - time.monotonic()
            try:
                return self.expect(pattern, max(0.1, min(every, left)), step)
            except StepError:
                if time.monotonic() >= end:
                    raise StepError(f"node {self.bmc.node}: step '{step}': no {pattern!r} on the "
                                    f"console within {timeout:.0f}s (Enter pressed every "
                                    f"{every:.0f}s)") from None

    def send(self, text, delay_ms=0):
        data = text.encode()
        if delay_ms <= 0:
            os.write(self.fd, data)
            return
        for i in range(len(data)):
            os.write(self.fd, data[i:i + 1])
            time.sleep(delay_ms / 1000.0)

    def close(self):
        if self.alive():
            try:
                os.write(self.fd, b"\r~.")
            except OSError:
                pass
            end = time.monotonic() + 3
            while time.monotonic() < end and self.alive():
                self._read(0.1)
            if self.alive():
                os.kill(self.pid, 9)
                os.waitpid(self.pid, 0)
                self.exited = True
        os.close(self.fd)
        if self.transcript:
            self.transcript.close()
