#!/usr/bin/env python3
"""The emulated Highbank lab: QEMU nodes behind ipmi_sim BMCs and dnsmasq.

    lab.py up     --inventory INV --state DIR [--mkmaster BIN] [--disk-mib N]
    lab.py status --state DIR [--json]
    lab.py down   --state DIR [--keep-logs]
    lab.py exec   --state DIR -- CMD ARGS...   (run CMD inside the lab network)
    lab.py bmc    --state DIR stop|start NODE  (fault injection)

Everything runs inside network namespaces named after the state directory
(mkl-<hash>: the lab network with the bridge, dnsmasq, the BMCs on their
loopback/control addresses, the lab daemon and the QEMU nodes; mkl-<hash>-uN:
node N's NIC while the emulated U-Boot uses it).  Nothing is configured in
the host's namespace, so several labs can run side by side and nothing can
leave the machine.  Every process and namespace is recorded in DIR before it
is created; `down` removes them all from DIR alone -- also after a crash or
Ctrl-C of `up` (which cleans up itself when interrupted).  See docs/lab.md.
"""

import argparse
import hashlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "testing"))
import ipmi_sim_conf  # noqa: E402
import make_test_image  # noqa: E402

SOL_PORT_BASE = 40000


class LabError(Exception):
    pass


def ns_prefix(state):
    digest = hashlib.sha1(os.path.realpath(state).encode()).hexdigest()[:8]
    return f"mkl-{digest}"


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise LabError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def list_namespaces(prefix):
    r = run(["ip", "netns", "list"], check=False)
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    return [n for n in names if n == prefix or n.startswith(prefix + "-")]


class State:
    """The state directory: the only record of what a lab created."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.prefix = ns_prefix(self.path)
        self.pid_dir = os.path.join(self.path, "pids")

    def p(self, *parts):
        return os.path.join(self.path, *parts)

    def record_pid(self, name, pid):
        os.makedirs(self.pid_dir, exist_ok=True)
        with open(os.path.join(self.pid_dir, name), "w") as f:
            f.write(f"{pid}\n")

    def recorded_pids(self):
        pids = {}
        if os.path.isdir(self.pid_dir):
            for name in os.listdir(self.pid_dir):
                try:
                    with open(os.path.join(self.pid_dir, name)) as f:
                        pids[name] = int(f.read().strip())
                except (OSError, ValueError):
                    pass
        if "labd" not in pids:  # labd writes its own PID too
            try:
                with open(self.p("labd.pid")) as f:
                    pids["labd"] = int(f.read().strip())
            except (OSError, ValueError):
                pass
        try:
            with open(self.p("qemu-pids.json")) as f:
                for name, pid in json.load(f).items():
                    pids["qemu-" + name] = pid
        except (OSError, ValueError):
            pass
        return pids

    def config(self):
        try:
            with open(self.p("lab.json")) as f:
                return json.load(f)
        except OSError:
            return None
        except ValueError as e:
            raise LabError(f"{self.p('lab.json')}: corrupt: {e}") from e


def spawn(state, name, cmd, ns=None, log=None):
    """Start a long-lived lab process detached from our session, log to
    DIR/logs/<name>.log, record its PID."""
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    os.makedirs(state.p("logs"), exist_ok=True)
    out = open(log or state.p("logs", name + ".log"), "ab")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                         start_new_session=True)
    out.close()
    state.record_pid(name, p.pid)
    return p


def wait_for(what, pred, timeout, proc=None, log=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc is not None and proc.poll() is not None:
            tail = ""
            if log and os.path.exists(log):
                tail = open(log, errors="replace").read()[-800:]
            raise LabError(f"{what}: process exited with {proc.returncode}: {tail.strip()}")
        time.sleep(0.05)
    raise LabError(f"{what}: not ready after {timeout:.0f}s")


def labd_request(state, req, timeout=20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(state.p("labd.sock"))
    f = s.makefile("rwb")
    f.write(json.dumps(req).encode() + b"\n")
    f.flush()
    rep = json.loads(f.readline() or b"{}")
    s.close()
    if not rep.get("ok"):
        raise LabError(f"lab daemon: {rep.get('error')}")
    return rep


# ------------------------------------------------------------------ files

class LabNode:
    """A node of the inventory as mkmaster resolved it, plus its position
    (which names its tap, veth and namespace)."""

    def __init__(self, index, d):
        self.index = index
        self.name = d["name"]
        self.eth0_mac, self.eth0_ip = d["eth0"]["mac"], d["eth0"]["ip"]
        self.bmc_host, self.bmc_port, self.bmc_user = d["bmc_host"], d["bmc_port"], d["bmc_user"]
        self.password_file, self.password_env = d["password_file"], d["password_env"]
        # The node's board profile (device_type): which QEMU machine emulates
        # it and which dtb its U-Boot names.
        self.qemu_machine, self.dtb = d["board"]["qemu_machine"], d["board"]["dtb"]

    def password(self):
        """The BMC password from the credentials reference; never logged."""
        if self.password_file:
            try:
                with open(self.password_file) as f:
                    return f.readline().rstrip("\n")
            except OSError as e:
                raise LabError(f"node {self.name}: password_file: {e}") from e
        value = os.environ.get(self.password_env)
        if value is None:
            raise LabError(f"node {self.name}: password_env: "
                           f"environment variable {self.password_env} is not set")
        return value


class LabInventory:
    def __init__(self, d):
        self.path, self.tftp_root = d["path"], d["tftp_root"]
        self.network = ipaddress.IPv4Network(d["network"])
        self.nodes = [LabNode(i, n) for i, n in enumerate(d["nodes"])]

    @property
    def server_ip(self):
        """The lab server (dnsmasq, next-server): the network's first host."""
        return str(next(self.network.hosts()))


def load_inventory(mkmaster, path):
    """The inventory through `mkmaster inventory --json`, so the lab and the
    product read it alike, plus what the emulation itself needs: the lab
    network, and numeric BMC addresses on loopback or in that network."""
    if not mkmaster or not (os.path.isfile(mkmaster) and os.access(mkmaster, os.X_OK)):
        raise LabError(f"--mkmaster/MKMASTER_BIN {mkmaster!r}: not an executable (build mkmaster)")
    r = run([mkmaster, "inventory", "--json", "-i", path], check=False)
    if r.returncode != 0:
        raise LabError(r.stderr.strip() or f"mkmaster inventory failed ({r.returncode})")
    d = json.loads(r.stdout)
    if not d["network"]:
        raise LabError(f"{path}: [lab]: network: the emulated lab needs the lab "
                       "network (e.g. network = 192.0.2.0/24)")
    inv = LabInventory(d)
    for n in inv.nodes:
        try:
            bmc = ipaddress.IPv4Address(n.bmc_host)
        except ValueError as e:
            raise LabError(f"node {n.name}: bmc: the lab needs a numeric BMC address: {e}") from e
        if not (bmc.is_loopback or bmc in inv.network):
            raise LabError(f"node {n.name}: bmc: {n.bmc_host} is neither a loopback address nor "
                           f"in the lab network {inv.network}")
    return inv


def check_password(node, pw):
    try:
        ipmi_sim_conf.check_password(pw)
    except ipmi_sim_conf.ConfError as e:
        raise LabError(f"node {node.name}: {e}")


# ------------------------------------------------------------------ up

def up(args):
    state = State(args.state)
    inv = load_inventory(args.mkmaster, args.inventory)
    if not os.path.isdir(inv.tftp_root):
        raise LabError(f"{inv.path}: tftp_root {inv.tftp_root} is not a directory "
                       "(run mkmaster build first)")
    if state.config() is not None or list_namespaces(state.prefix):
        print(f"lab: {state.path} holds an old lab; tearing it down first", file=sys.stderr)
        down_state(state, keep_logs=False)
    os.makedirs(state.path, exist_ok=True)
    os.chmod(state.path, 0o700)
    vmlinuz, dtb = make_test_image.kernel_files()
    for n in inv.nodes:  # bad credentials fail before anything exists
        check_password(n, n.password())
    lab_ns = state.prefix
    cfg = {"inventory": os.path.abspath(inv.path), "ns": lab_ns, "server_ip": inv.server_ip,
           "network": str(inv.network), "tftp_root": inv.tftp_root, "default_dtb": dtb,
           "memory_mib": args.memory_mib, "nodes": []}
    for n in inv.nodes:
        ndir = state.p("nodes", n.name)
        os.makedirs(os.path.join(ndir, "bmc"), exist_ok=True)
        cfg["nodes"].append({
            "name": n.name, "mac": n.eth0_mac, "ip": n.eth0_ip, "tap": f"tap{n.index}",
            "veth": f"ub{n.index}", "uboot_ns": f"{lab_ns}-u{n.index}",
            "bmc_host": n.bmc_host, "bmc_port": n.bmc_port, "bmc_user": n.bmc_user,
            "qemu_machine": n.qemu_machine, "dtb": n.dtb,
            "sol_port": SOL_PORT_BASE + n.index, "disk": os.path.join(ndir, "disk.img")})
    # Record first, create second: a crash in between leaves nothing that
    # `down` does not know about.
    with open(state.p("lab.json"), "w") as f:
        json.dump(cfg, f, indent=1)

    def interrupted(signum, frame):
        raise KeyboardInterrupt
    # Ctrl-C or kill while coming up: tear down what exists, then exit.
    # (SIGINT is set explicitly: a shell's background job inherits it ignored.)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)
    try:
        t0 = time.monotonic()
        build_network(state, cfg)
        for ncfg, n in zip(cfg["nodes"], inv.nodes):
            if not os.path.exists(ncfg["disk"]):
                with open(ncfg["disk"], "wb") as f:
                    f.truncate(args.disk_mib << 20)
            write_bmc_files(state, ncfg, n)
        # dnsmasq.conf is the product's (the LAVA Highbank setup's lines plus dhcp-range
        # for the inventory's network); the lab's own options stay on
        # dnsmasq's command line.
        out = state.p("labfiles")
        r = run([args.mkmaster, "labfiles", "--inventory", inv.path, "--out", out], check=False)
        if r.returncode != 0:
            raise LabError(f"mkmaster labfiles: {r.stderr.strip()}")
        shutil.copy(os.path.join(out, "dnsmasq.conf"), state.p("dnsmasq.conf"))
        cfg["dnsmasq_conf_from"] = "mkmaster labfiles"
        with open(state.p("lab.json"), "w") as f:
            json.dump(cfg, f, indent=1)
        labd = spawn(state, "labd", [sys.executable, os.path.join(HERE, "labd.py"), state.path],
                     ns=lab_ns)
        wait_for("lab daemon", lambda: os.path.exists(state.p("labd.sock")), 10, labd,
                 state.p("logs", "labd.log"))
        start_dnsmasq(state, cfg)
        for ncfg in cfg["nodes"]:
            start_bmc(state, cfg, ncfg)
        for ncfg in cfg["nodes"]:
            name = ncfg["name"]
            wait_for(f"node {name}: ipmi_sim SOL connection to the console",
                     lambda: next(x for x in labd_request(state, {"op": "status"})["nodes"]
                                  if x["name"] == name)["sol_connected"], 15)
        print(f"lab up: {len(cfg['nodes'])} node(s) in namespace {lab_ns} "
              f"({time.monotonic() - t0:.1f}s); state {state.path}")
        for ncfg in cfg["nodes"]:
            print(f"  {ncfg['name']}: eth0 {ncfg['mac']} {ncfg['ip']}, "
                  f"BMC {ncfg['bmc_host']}:{ncfg['bmc_port']}")
        print(f"  run commands in the lab network: {sys.argv[0]} exec --state {state.path} -- CMD")
    except BaseException:
        print("lab: up failed or interrupted; tearing down", file=sys.stderr)
        down_state(state, keep_logs=True)
        raise


def build_network(state, cfg):
    ns = cfg["ns"]
    prefixlen = cfg["network"].split("/")[1]
    run(["ip", "netns", "add", ns])
    ex = ["ip", "netns", "exec", ns]
    run(ex + ["ip", "link", "set", "lo", "up"])
    run(ex + ["ip", "link", "add", "labbr", "type", "bridge"])
    run(ex + ["ip", "addr", "add", f"{cfg['server_ip']}/{prefixlen}", "dev", "labbr"])
    run(ex + ["ip", "link", "set", "labbr", "up"])
    for n in cfg["nodes"]:
        # The node's NIC under QEMU.
        run(ex + ["ip", "tuntap", "add", "dev", n["tap"], "mode", "tap"])
        run(ex + ["ip", "link", "set", n["tap"], "master", "labbr", "up"])
        # The same NIC while the emulated U-Boot uses it: a veth whose far
        # end (in the node's own namespace) carries the node's MAC.
        run(["ip", "netns", "add", n["uboot_ns"]])
        run(ex + ["ip", "link", "add", n["veth"], "type", "veth", "peer", "name", "eth0",
                  "netns", n["uboot_ns"]])
        run(ex + ["ip", "link", "set", n["veth"], "master", "labbr", "up"])
        run(["ip", "netns", "exec", n["uboot_ns"], "ip", "link", "set", "eth0", "address", n["mac"]])
        run(["ip", "netns", "exec", n["uboot_ns"], "ip", "link", "set", "lo", "up"])
        host = n["bmc_host"]
        if not host.startswith("127."):
            # A BMC on its control address in the lab network, as in the LAVA Highbank setup.
            run(ex + ["ip", "addr", "add", f"{host}/32", "dev", "labbr"])


def write_bmc_files(state, ncfg, node):
    pw = node.password()
    check_password(node, pw)
    chassis = " ".join(shlex.quote(x) for x in
                       [sys.executable, os.path.join(HERE, "chassis.py"), state.path, ncfg["name"]])
    if '"' in chassis:
        raise LabError(f"state path {state.path} must not contain quotes")
    ipmi_sim_conf.write(state.p("nodes", ncfg["name"], "bmc"), ncfg["name"], ncfg["bmc_host"],
                        ncfg["bmc_port"], ncfg["bmc_user"], pw, chassis, ncfg["sol_port"])


def start_dnsmasq(state, cfg):
    log = state.p("logs", "dnsmasq.log")
    p = spawn(state, "dnsmasq",
              ["dnsmasq", "--no-daemon", "--port=0", f"--conf-file={state.p('dnsmasq.conf')}",
               "--interface=labbr", "--bind-interfaces", "--except-interface=lo",
               f"--dhcp-leasefile={state.p('dnsmasq.leases')}",
               "--log-facility=-", "--log-dhcp", "--user=root"],
              ns=cfg["ns"], log=log)
    wait_for("dnsmasq", lambda: "TFTP root is" in open(log, errors="replace").read(), 10, p, log)


def start_bmc(state, cfg, ncfg):
    bdir = state.p("nodes", ncfg["name"], "bmc")
    os.makedirs(os.path.join(bdir, "state"), exist_ok=True)
    name = "bmc-" + ncfg["name"]
    log = state.p("logs", name + ".log")
    p = spawn(state, name, ["ipmi_sim", "-c", os.path.join(bdir, "lan.conf"),
                            "-f", os.path.join(bdir, "bmc.emu"),
                            "-s", os.path.join(bdir, "state"), "-n"], ns=cfg["ns"], log=log)

    def listening():
        r = run(["ip", "netns", "exec", cfg["ns"], "ss", "-Hlun",
                 f"sport = :{ncfg['bmc_port']}"], check=False)
        return ncfg["bmc_host"] in r.stdout
    wait_for(f"node {ncfg['name']}: ipmi_sim on {ncfg['bmc_host']}:{ncfg['bmc_port']}",
             listening, 10, p, log)


# ------------------------------------------------------------------ down

def down_state(state, keep_logs):
    cfg = None
    try:
        cfg = state.config()
    except LabError:
        pass
    if os.path.exists(state.p("labd.sock")):
        try:
            labd_request(state, {"op": "shutdown"}, timeout=15)
        except (OSError, LabError, ValueError):
            pass
    namespaces = list_namespaces(state.prefix)
    victims = set(state.recorded_pids().values())
    for ns in namespaces:
        r = run(["ip", "netns", "pids", ns], check=False)
        victims.update(int(x) for x in r.stdout.split() if x.isdigit())
    victims.discard(os.getpid())
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        alive = [p for p in victims if pid_alive(p)]
        for p in alive:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait
        while time.monotonic() < end and any(pid_alive(p) for p in alive):
            time.sleep(0.05)
    left = [p for p in victims if pid_alive(p)]
    for ns in namespaces:
        run(["ip", "netns", "delete", ns], check=False)
    left_ns = list_namespaces(state.prefix)
    if os.path.isdir(state.path):
        for entry in os.listdir(state.path):
            if keep_logs and entry == "logs":
                continue
            if keep_logs and entry == "nodes":
                # console and boot logs are what one reads after a failure
                for node in os.listdir(state.p("nodes")):
                    for x in os.listdir(state.p("nodes", node)):
                        if not x.endswith(".log"):
                            path = state.p("nodes", node, x)
                            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
                    if not os.listdir(state.p("nodes", node)):
                        os.rmdir(state.p("nodes", node))
                if not os.listdir(state.p("nodes")):
                    os.rmdir(state.p("nodes"))
                continue
            path = state.p(entry)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        if not os.listdir(state.path):
            os.rmdir(state.path)
    if left or left_ns:
        raise LabError(f"down: could not remove processes {left} / namespaces {left_ns}")
    return cfg is not None or bool(namespaces)


def down(args):
    state = State(args.state)
    had = down_state(state, args.keep_logs)
    print("lab down" if had else f"lab down: nothing was running for {state.path}")


# ------------------------------------------------------------------ status

def status(args):
    state = State(args.state)
    cfg = state.config()
    if cfg is None:
        if args.json:
            print(json.dumps({"up": False}))
        else:
            print(f"lab: no lab in {state.path}")
        return 3
    pids = state.recorded_pids()
    procs = {name: {"pid": pid, "alive": pid_alive(pid)} for name, pid in sorted(pids.items())}
    nodes = []
    try:
        nodes = labd_request(state, {"op": "status"}, timeout=10)["nodes"]
    except (OSError, LabError, ValueError) as e:
        nodes = [{"name": n["name"], "error": f"lab daemon unreachable: {e}"} for n in cfg["nodes"]]
    result = {"up": True, "ns": cfg["ns"], "namespaces": list_namespaces(state.prefix),
              "processes": procs, "nodes": nodes}
    for n, ncfg in zip(nodes, cfg["nodes"]):
        n["bmc"] = f"{ncfg['bmc_host']}:{ncfg['bmc_port']}"
        n["eth0"] = f"{ncfg['mac']} {ncfg['ip']}"
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(f"lab {state.path}: namespaces {' '.join(result['namespaces'])}")
        for name, p in procs.items():
            print(f"  {name:24} pid {p['pid']:<8} {'running' if p['alive'] else 'DEAD'}")
        for n in nodes:
            if "error" in n:
                print(f"  node {n['name']}: {n['error']}")
                continue
            print(f"  node {n['name']}: power {'on' if n['power'] else 'off'} ({n['phase']}), "
                  f"bootdev {n['bootdev']}, BMC {n['bmc']}, eth0 {n['eth0']}, "
                  f"SOL {'connected' if n['sol_connected'] else 'not connected'}")
    dead = [k for k, p in procs.items() if not p["alive"] and not k.startswith("qemu-")]
    return 1 if dead else 0


def exec_cmd(args):
    state = State(args.state)
    cfg = state.config()
    if cfg is None:
        raise LabError(f"no lab in {state.path}")
    if not args.command:
        raise LabError("exec: no command")
    cmd = args.command[1:] if args.command[0] == "--" else args.command
    os.execvp("ip", ["ip", "netns", "exec", cfg["ns"]] + cmd)


def bmc(args):
    state = State(args.state)
    cfg = state.config()
    if cfg is None:
        raise LabError(f"no lab in {state.path}")
    ncfg = next((n for n in cfg["nodes"] if n["name"] == args.node), None)
    if ncfg is None:
        raise LabError(f"no node {args.node} in the lab")
    name = "bmc-" + ncfg["name"]
    pid = state.recorded_pids().get(name)
    if args.action == "stop":
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_for(f"{name} to stop", lambda: not pid_alive(pid), 5)
        print(f"{name} stopped")
    else:
        if pid and pid_alive(pid):
            raise LabError(f"{name} is already running (pid {pid})")
        start_bmc(state, cfg, ncfg)
        print(f"{name} started")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="the emulated Highbank lab (see docs/lab.md)")
    sub = ap.add_subparsers(dest="action_name", required=True)
    u = sub.add_parser("up")
    u.add_argument("--inventory", required=True)
    u.add_argument("--disk-mib", type=int, default=256)
    u.add_argument("--memory-mib", type=int, default=1024)
    u.add_argument("--mkmaster", default=os.environ.get("MKMASTER_BIN"),
                   help="mkmaster binary: reads the inventory and writes dnsmasq.conf "
                        "(default $MKMASTER_BIN)")
    d = sub.add_parser("down")
    d.add_argument("--keep-logs", action="store_true")
    s = sub.add_parser("status")
    s.add_argument("--json", action="store_true")
    e = sub.add_parser("exec")
    e.add_argument("command", nargs=argparse.REMAINDER)
    b = sub.add_parser("bmc")
    b.add_argument("action", choices=["stop", "start"])
    b.add_argument("node")
    for x in (u, d, s, e, b):
        x.add_argument("--state", required=True)
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("lab: error: needs root (network namespaces, taps)", file=sys.stderr)
        return 1
    try:
        fn = {"up": up, "down": down, "status": status, "exec": exec_cmd, "bmc": bmc}[args.action_name]
        return fn(args) or 0
    except (LabError, make_test_image.ImageError) as e:
        print(f"lab: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"lab: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
