#!/usr/bin/env python3
"""The lab daemon: one process per lab, inside the lab's network namespace.

It is what the BMCs' chassis_control program talks to and what owns each
node's "hardware":

* the serial line: a relay per node between QEMU's ttyAMA0 (QEMU connects
  to a unix socket here) and ipmi_sim's SOL (ipmi_sim connects to a TCP
  port here, and keeps that connection across power cycles, as a BMC's UART
  stays wired while the node is off).  Everything the node prints, and what
  the emulated U-Boot prints, is appended to nodes/<name>/console.log.
* power and boot device: power on runs the emulated U-Boot (uboot.py: PXE
  through dnsmasq, or distro boot from the disk) in a thread and then starts
  QEMU; power off quits QEMU via QMP; reset = off + on; the boot device is
  remembered per node (stored in nodes/<name>/bootdev).

Requests arrive as one JSON line on the unix socket <state>/labd.sock and
get one JSON line back: {"op": "chassis", "node": N, "args": [...]},
{"op": "status"}, {"op": "shutdown"}.
"""

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def log(msg):
    sys.stderr.write(time.strftime("%H:%M:%S ") + msg + "\n")
    sys.stderr.flush()


class Qmp:
    """A one-shot QMP client (QEMU accepts one QMP connection at a time)."""

    def __init__(self, path, timeout=3.0):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self):
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("QMP connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        rep = self._read()
        if "error" in rep:
            raise RuntimeError(f"QMP {name}: {rep['error'].get('desc')}")
        return rep.get("return")

    def close(self):
        try:
            self.f.close()
            self.s.close()
        except OSError:
            pass


class Node:
    def __init__(self, lab, cfg):
        self.lab = lab
        self.name = cfg["name"]
        self.cfg = cfg
        self.dir = os.path.join(lab.state, "nodes", self.name)
        self.log = open(os.path.join(self.dir, "console.log"), "ab", buffering=0)
        self.sol = None        # ipmi_sim's connection
        self.serial = None     # QEMU's ttyAMA0 connection
        self.qemu = None       # subprocess.Popen
        self.uboot = None      # subprocess.Popen of uboot.py while it runs
        self.phase = "off"     # off | bootloader | failed-bootloader | running
        self.generation = 0    # bumps on every power change; stale boot threads stop
        self.boot_info = {}
        self.power_on_at = None
        self.lock = threading.RLock()
        bd = os.path.join(self.dir, "bootdev")
        self.bootdev = open(bd).read().strip() if os.path.exists(bd) else "default"

    # -------------------------------------------------------- console
    def console_out(self, data):
        """Bytes from the node (QEMU or the emulated bootloader)."""
        self.log.write(data)
        sol = self.sol
        if sol is not None:
            try:
                sol.sendall(data)
            except OSError:
                pass

    def console_in(self, data):
        """Bytes typed over SOL; lost while nothing listens, like a UART."""
        ser = self.serial
        if ser is not None:
            try:
                ser.sendall(data)
            except OSError:
                pass

    # -------------------------------------------------------- power
    def powered(self):
        with self.lock:
            if self.phase in ("bootloader", "failed-bootloader"):
                return True  # on, sitting in U-Boot (a failed boot stays there)
            if self.qemu is None or self.qemu.poll() is not None:
                return False
            try:
                q = Qmp(self.qmp_path(), timeout=2.0)
                try:
                    status = q.cmd("query-status")["status"]
                finally:
                    q.close()
            except (OSError, ConnectionError, RuntimeError, ValueError):
                return True
            # -no-shutdown keeps QEMU alive after a guest poweroff: that is
            # power off for the BMC.
            return status != "shutdown"

    def qmp_path(self):
        return os.path.join(self.dir, "qmp.sock")

    def events_path(self):
        return os.path.join(self.dir, "qmp-events.sock")

    def _watch(self, gen, proc):
        """Follow QEMU's events; a guest-initiated reboot becomes a
        reset through the emulated bootloader."""
        end = time.time() + 10
        q = None
        while q is None and time.time() < end and proc.poll() is None:
            try:
                q = Qmp(self.events_path(), timeout=None)
            except (OSError, ConnectionError, ValueError):
                time.sleep(0.1)
        if q is None:
            return
        try:
            while True:
                line = q.f.readline()
                if not line:
                    return
                ev = json.loads(line)
                if ev.get("event") == "SHUTDOWN" and ev.get("data", {}).get("reason") == "guest-reset":
                    if gen != self.generation:
                        return
                    log(f"{self.name}: guest reboot -> bootloader (boot device {self.bootdev})")
                    threading.Thread(target=self._reboot, args=(gen,), daemon=True).start()
                    return
        except (OSError, ValueError):
            return
        finally:
            q.close()

    def _reboot(self, gen):
        with self.lock:
            if gen != self.generation:
                return
        self.power_off()
        self.power_on()

    def power_off(self):
        with self.lock:
            self.generation += 1
            if self.uboot is not None and self.uboot.poll() is None:
                self.uboot.kill()
            q, self.qemu = self.qemu, None
            self.phase = "off"
        if q is not None and q.poll() is None:
            try:
                c = Qmp(self.qmp_path(), timeout=2.0)
                c.cmd("quit")
                c.close()
            except (OSError, ConnectionError, RuntimeError, ValueError):
                q.terminate()
            try:
                q.wait(timeout=5)
            except subprocess.TimeoutExpired:
                q.kill()
                q.wait()
        self.lab.write_pids()

    def power_on(self):
        with self.lock:
            if self.phase in ("bootloader", "failed-bootloader"):
                return  # already on: power on is a no-op, as on a real BMC
            if self.phase == "running" and self.powered():
                return
            if self.qemu is not None:
                # A guest that powered itself off: QEMU is still there.
                self.power_off()
            self.generation += 1
            gen = self.generation
            self.phase = "bootloader"
            self.power_on_at = time.time()
        t = threading.Thread(target=self._boot, args=(gen,), daemon=True)
        t.start()

    def _boot(self, gen):
        mode = "pxe" if self.bootdev == "pxe" else "disk"
        out = os.path.join(self.dir, "boot")
        result = os.path.join(self.dir, "boot.json")
        for p in (result,):
            if os.path.exists(p):
                os.unlink(p)
        cmd = [sys.executable, os.path.join(HERE, "uboot.py"), mode, "--out", out, "--result", result,
               "--fdtfile", self.cfg.get("dtb", "highbank.dtb")]
        if mode == "pxe":
            cmd = ["ip", "netns", "exec", self.cfg["uboot_ns"]] + cmd + ["--mac", self.cfg["mac"]]
        else:
            cmd += ["--disk", self.cfg["disk"]]
        log(f"{self.name}: power on, boot device {self.bootdev} -> {mode}")
        with self.lock:
            if gen != self.generation:
                return
            errlog = open(os.path.join(self.dir, "uboot.log"), "ab")
            self.uboot = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errlog,
                                          stdin=subprocess.DEVNULL)
            errlog.close()
        u = self.uboot
        while True:
            chunk = u.stdout.read1(4096)
            if not chunk:
                break
            if gen == self.generation:
                self.console_out(chunk)
        rc = u.wait()
        with self.lock:
            if gen != self.generation:
                return
            self.uboot = None
            if rc != 0:
                self.phase = "failed-bootloader"
                log(f"{self.name}: emulated U-Boot failed (rc {rc}), see uboot.log")
                return
            with open(result) as f:
                info = json.load(f)
            self.boot_info = info
            self.qemu = self._start_qemu(info)
            self.phase = "running"
            threading.Thread(target=self._watch, args=(gen, self.qemu), daemon=True).start()
        self.lab.write_pids()

    def _start_qemu(self, info):
        dtb = info.get("fdt") or self.lab.cfg["default_dtb"]
        cmd = ["qemu-system-arm", "-M", self.cfg.get("qemu_machine", "highbank"), "-m", str(self.lab.cfg.get("memory_mib", 1024)),
               "-display", "none", "-monitor", "none", "-no-shutdown",
               "-name", f"mklab-{self.name}",
               "-chardev", f"socket,id=ser0,path={os.path.join(self.dir, 'serial.sock')},server=off",
               "-serial", "chardev:ser0",
               "-qmp", f"unix:{self.qmp_path()},server=on,wait=off",
               # A second monitor only for events; a guest reboot stops the
               # guest (reason guest-reset) so labd can run the emulated
               # U-Boot again, honouring the boot device, as a real reboot does.
               "-qmp", f"unix:{self.events_path()},server=on,wait=off",
               "-action", "reboot=shutdown",
               "-drive", f"file={self.cfg['disk']},if=none,format=raw,id=d0,cache=writeback",
               "-device", "ide-hd,drive=d0,bus=ide.0",
               "-nic", f"tap,ifname={self.cfg['tap']},script=no,downscript=no,model=xgmac,mac={self.cfg['mac']}",
               "-nic", "none",
               "-kernel", info["kernel"], "-dtb", dtb, "-append", info.get("append", "")]
        if info.get("initrd"):
            cmd += ["-initrd", info["initrd"]]
        qlog = open(os.path.join(self.dir, "qemu.log"), "ab")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog)
        qlog.close()
        log(f"{self.name}: qemu -M {cmd[2]} pid {p.pid}: kernel {info['kernel']} "
            f"append {info.get('append', '')!r}")
        return p

    def chassis(self, args):
        """ipmi_sim's chassis_control protocol (see lab-notes)."""
        if not args:
            raise ValueError("no chassis command")
        if args[0] == "check":
            return ""
        if args[0] == "get":
            out = []
            for what in args[1:]:
                if what == "power":
                    out.append(f"power:{1 if self.powered() else 0}")
                elif what == "boot":
                    out.append(f"boot:{self.bootdev}")
            return "\n".join(out) + "\n"
        if args[0] == "set" and len(args) >= 3:
            what, val = args[1], args[2]
            if what == "power":
                log(f"{self.name}: set power {val}")
                self.power_on() if val == "1" else self.power_off()
            elif what == "reset":
                log(f"{self.name}: reset")
                self.power_off()
                self.power_on()
            elif what == "boot":
                log(f"{self.name}: boot device {val}")
                self.bootdev = val
                with open(os.path.join(self.dir, "bootdev"), "w") as f:
                    f.write(val + "\n")
            return ""
        raise ValueError(f"unknown chassis command {args}")

    def status(self):
        return {"name": self.name, "power": 1 if self.powered() else 0, "phase": self.phase,
                "bootdev": self.bootdev, "qemu_pid": self.qemu.pid if self.qemu else None,
                "sol_connected": self.sol is not None, "serial_connected": self.serial is not None,
                "boot": self.boot_info.get("source"), "power_on_at": self.power_on_at}


class Lab:
    def __init__(self, state):
        self.state = state
        with open(os.path.join(state, "lab.json")) as f:
            self.cfg = json.load(f)
        self.sel = selectors.DefaultSelector()
        self.nodes = {}
        self.running = True
        for ncfg in self.cfg["nodes"]:
            n = Node(self, ncfg)
            self.nodes[n.name] = n
            sol = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sol.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sol.bind(("127.0.0.1", ncfg["sol_port"]))
            sol.listen(1)
            self.sel.register(sol, selectors.EVENT_READ, ("sol-listen", n))
            spath = os.path.join(n.dir, "serial.sock")
            if os.path.exists(spath):
                os.unlink(spath)
            ser = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            ser.bind(spath)
            ser.listen(1)
            self.sel.register(ser, selectors.EVENT_READ, ("serial-listen", n))
        cpath = os.path.join(state, "labd.sock")
        if os.path.exists(cpath):
            os.unlink(cpath)
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.bind(cpath)
        self.ctl.listen(16)
        self.sel.register(self.ctl, selectors.EVENT_READ, ("ctl-listen", None))

    def write_pids(self):
        pids = {n.name: n.qemu.pid for n in self.nodes.values() if n.qemu is not None}
        tmp = os.path.join(self.state, "qemu-pids.json.tmp")
        with open(tmp, "w") as f:
            json.dump(pids, f)
        os.replace(tmp, os.path.join(self.state, "qemu-pids.json"))

    def handle_ctl(self, conn):
        # Requests are served on their own thread: a chassis "set power 0"
        # waits for QEMU to quit, and the relays must keep flowing meanwhile.
        def serve():
            try:
                conn.settimeout(30)
                f = conn.makefile("rwb")
                req = json.loads(f.readline() or b"{}")
                op = req.get("op")
                if op == "chassis":
                    node = self.nodes.get(req.get("node"))
                    if node is None:
                        raise ValueError(f"no node {req.get('node')}")
                    rep = {"ok": True, "out": node.chassis(req.get("args", []))}
                elif op == "status":
                    rep = {"ok": True, "nodes": [n.status() for n in self.nodes.values()]}
                elif op == "shutdown":
                    for n in self.nodes.values():
                        n.power_off()
                    self.running = False
                    rep = {"ok": True}
                else:
                    raise ValueError(f"unknown op {op}")
            except Exception as e:  # reported to the caller, the daemon lives on
                rep = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            try:
                f.write(json.dumps(rep).encode() + b"\n")
                f.flush()
                conn.close()
            except OSError:
                pass
        threading.Thread(target=serve, daemon=True).start()

    def loop(self):
        while self.running:
            for key, _ in self.sel.select(timeout=0.5):
                kind, node = key.data
                sock = key.fileobj
                if kind == "ctl-listen":
                    conn, _ = sock.accept()
                    self.handle_ctl(conn)
                elif kind in ("sol-listen", "serial-listen"):
                    conn, _ = sock.accept()
                    attr = "sol" if kind == "sol-listen" else "serial"
                    old = getattr(node, attr)
                    if old is not None:
                        self.sel.unregister(old)
                        old.close()
                    setattr(node, attr, conn)
                    self.sel.register(conn, selectors.EVENT_READ, (attr, node))
                    log(f"{node.name}: {attr} connected")
                else:
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if not data:
                        self.sel.unregister(sock)
                        sock.close()
                        if getattr(node, kind) is sock:
                            setattr(node, kind, None)
                        log(f"{node.name}: {kind} disconnected")
                    elif kind == "serial":
                        node.console_out(data)
                    else:
                        node.console_in(data)


def main():
    state = os.path.abspath(sys.argv[1])
    lab = Lab(state)
    with open(os.path.join(state, "labd.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")

    def stop(signum, frame):
        lab.running = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log(f"labd up: {len(lab.nodes)} node(s)")
    try:
        lab.loop()
    finally:
        for n in lab.nodes.values():
            n.power_off()
        log("labd down")


if __name__ == "__main__":
    main()
