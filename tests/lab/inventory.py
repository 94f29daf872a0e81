"""Read the lab inventory (docs/inventory.md, the INI format that
mkmaster/node/inventory.cpp defines) for the emulated lab.

Only what the lab needs is read here: node names, eth0 MAC/IP, BMC address,
port, user and credentials reference, the lab network and TFTP root.  The
C++ loader in mkmaster/node is the authority on validation; this reader
repeats the checks the lab relies on so that a bad inventory fails before
any namespace or process exists, with file:line-free but field-precise
messages (configparser does not keep line numbers).
"""

import configparser
import ipaddress
import os
import re
from dataclasses import dataclass, field


class InventoryError(Exception):
    pass


@dataclass
class LabNode:
    name: str          # calxeda01-01
    index: int         # position in the inventory, names the tap/veth
    eth0_mac: str
    eth0_ip: str
    bmc_host: str
    bmc_port: int
    bmc_user: str
    password_file: str = ""
    password_env: str = ""

    def password(self):
        """The BMC password from the credentials reference; never logged."""
        if self.password_file:
            try:
                with open(self.password_file) as f:
                    return f.readline().rstrip("\n")
            except OSError as e:
                raise InventoryError(f"node {self.name}: password_file: {e}") from e
        value = os.environ.get(self.password_env)
        if value is None:
            raise InventoryError(f"node {self.name}: password_env: "
                                 f"environment variable {self.password_env} is not set")
        return value


@dataclass
class LabInventory:
    path: str
    network: ipaddress.IPv4Network
    tftp_root: str
    nodes: list = field(default_factory=list)

    @property
    def server_ip(self):
        """The lab server (dnsmasq, next-server): the network's first host."""
        return str(next(self.network.hosts()))

    def node(self, name):
        for n in self.nodes:
            if name in (n.name, n.name + "-00", n.name + "-02"):
                return n
        raise InventoryError(f"{self.path}: no node {name}")


INHERITED = ("bmc_user", "password_file", "password_env", "bmc_port")
MAC_RE = re.compile(r"^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$", re.I)


def _lookup(key, *scopes):
    for s in scopes:
        if s is not None and key in s:
            return s[key]
    return None


def load(path):
    cp = configparser.ConfigParser(interpolation=None, strict=True,
                                   default_section="\x00none")
    try:
        with open(path) as f:
            cp.read_file(f, source=path)
    except (OSError, configparser.Error) as e:
        raise InventoryError(f"{path}: {e}") from e
    base = os.path.dirname(os.path.abspath(path))
    lab = cp["lab"] if cp.has_section("lab") else None
    if lab is None or "network" not in lab:
        raise InventoryError(f"{path}: [lab]: network: the emulated lab needs the lab "
                             "network (e.g. network = 192.0.2.0/24)")
    try:
        net = ipaddress.IPv4Network(lab["network"], strict=True)
    except ValueError as e:
        raise InventoryError(f"{path}: [lab]: network: {e}") from e
    tftp_root = lab.get("tftp_root", "/var/lib/tftpboot")
    prefix = lab.get("name_prefix", "calxeda")
    inv = LabInventory(path=path, network=net, tftp_root=tftp_root)
    for sec in cp.sections():
        m = re.fullmatch(r"node\s+([0-9]{1,3})-([0-9]{1,3})", sec)
        if not m:
            continue
        own = cp[sec]
        mach = cp[f"machine {m[1]}"] if cp.has_section(f"machine {m[1]}") else None
        where = f"{path}: [{sec}]"
        name = f"{prefix}{m[1]}-{m[2]}"
        mac = own.get("eth0_mac", "")
        ip = own.get("eth0_ip", "")
        if not MAC_RE.match(mac):
            raise InventoryError(f"{where}: eth0_mac: '{mac}' is not a MAC address")
        try:
            if ipaddress.IPv4Address(ip) not in net:
                raise InventoryError(f"{where}: eth0_ip: {ip} is outside the lab network {net}")
        except ValueError as e:
            raise InventoryError(f"{where}: eth0_ip: {e}") from e
        bmc = own.get("bmc") or own.get("control_ip")
        if not bmc:
            raise InventoryError(f"{where}: bmc: required")
        try:
            bmc_addr = ipaddress.IPv4Address(bmc)
        except ValueError as e:
            raise InventoryError(f"{where}: bmc: the lab needs a numeric BMC address: {e}") from e
        if not (bmc_addr.is_loopback or bmc_addr in net):
            raise InventoryError(f"{where}: bmc: {bmc} is neither a loopback address nor "
                                 f"in the lab network {net}")
        port = _lookup("bmc_port", own, mach, lab) or "623"
        user = _lookup("bmc_user", own, mach, lab)
        if not user:
            raise InventoryError(f"{where}: bmc_user: required")
        node = LabNode(name=name, index=len(inv.nodes), eth0_mac=mac.lower().replace("-", ":"),
                       eth0_ip=ip, bmc_host=bmc, bmc_port=int(port), bmc_user=user)
        for scope in (own, mach, lab):
            if scope is None:
                continue
            if "password_file" in scope:
                pf = scope["password_file"]
                node.password_file = pf if pf.startswith("/") else os.path.join(base, pf)
                break
            if "password_env" in scope:
                node.password_env = scope["password_env"]
                break
        if not (node.password_file or node.password_env):
            raise InventoryError(f"{where}: password_file: no credentials: set password_file "
                                 "or password_env")
        inv.nodes.append(node)
    if not inv.nodes:
        raise InventoryError(f"{path}: no [node NN-NN] sections")
    return inv
