#!/usr/bin/env python3
"""The emulated Highbank U-Boot: decide what a node boots, the way the real
bootloader would, and hand QEMU the files.

QEMU's ``-M highbank`` has no firmware that could PXE-boot, so the lab does
U-Boot's part here and then starts QEMU with -kernel/-initrd/-dtb/-append.

``pxe``: runs inside the node's own network namespace, whose eth0 carries
the node's eth0 MAC and is bridged to the lab network: DHCP from the lab's
dnsmasq (the boot file it offers, e.g. ``master/pxelinux.0``, gated by the
``set:lava-master`` tag), then TFTP -- U-Boot's ``pxe get`` order:
``pxelinux.cfg/01-<mac>``, the hex-IP prefixes, ``default-arm-highbank``,
``default`` -- all relative to the boot file's directory, then the label's
kernel/initrd/fdt.  Everything is really fetched from dnsmasq over TFTP.

``disk``: U-Boot distro boot on the node's SATA disk image: MBR partitions
(bootable ones only if any are flagged), ``/extlinux/extlinux.conf`` or
``/boot/extlinux/extlinux.conf``, files read with debugfs (ext2/3/4) or
mcopy (vfat), without mounting.

Console text (U-Boot-like) goes to stdout; the result is written as JSON to
``--result``.  Exit 1 with ``uboot: error: ...`` when nothing bootable is
found -- the node then sits in the bootloader, as a real one would.
"""

import argparse
import ipaddress
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time


class BootError(Exception):
    pass


def say(text):
    sys.stdout.write(text.replace("\n", "\r\n"))
    sys.stdout.flush()


# ---------------------------------------------------------------- pxelinux

def parse_pxelinux(text, where):
    """The subset of pxelinux syntax U-Boot's pxe/sysboot commands honour.
    DEFAULT and ONTIMEOUT both set the default label; the last one wins
    (U-Boot's parse_pxefile_top), which makes the LAVA Highbank setup's ``DEFAULT menu`` +
    ``ONTIMEOUT lava-master`` boot lava-master."""
    labels = {}
    order = []
    default = None
    cur = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, rest = line.partition(" ")
        key = key.lower()
        rest = rest.strip()
        if key in ("default", "ontimeout"):
            default = rest.split()[0] if rest else None
        elif key == "label":
            cur = {"name": rest}
            labels[rest] = cur
            order.append(rest)
        elif key in ("kernel", "linux", "initrd", "append", "fdt", "devicetree", "fdtdir"):
            if cur is None:
                raise BootError(f"{where}:{lineno}: '{key}' outside a LABEL")
            key = {"linux": "kernel", "devicetree": "fdt"}.get(key, key)
            cur[key] = rest
        elif key in ("menu", "prompt", "timeout", "say", "totaltimeout", "localboot"):
            continue
        elif key == "include":
            raise BootError(f"{where}:{lineno}: INCLUDE is not supported by the lab's U-Boot")
        else:
            raise BootError(f"{where}:{lineno}: unknown pxelinux keyword '{key}'")
    if not order:
        raise BootError(f"{where}: no LABEL")
    name = default if default in labels else None
    if default and name is None:
        raise BootError(f"{where}: default label '{default}' is not defined")
    label = labels[name or order[0]]
    if "kernel" not in label:
        raise BootError(f"{where}: label '{label['name']}' has no KERNEL")
    return label


# ---------------------------------------------------------------- DHCP

def dhcp_packet(xid, mac, msgtype, extra=b""):
    chaddr = bytes.fromhex(mac.replace(":", "")) + bytes(10)
    hdr = struct.pack("!BBBBIHHIIII16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                      0, 0, 0, 0, chaddr, b"", b"")
    opts = b"\x63\x82\x53\x63" + bytes([53, 1, msgtype])
    opts += bytes([60, 12]) + b"U-Boot.armv7"
    opts += bytes([55, 6, 1, 3, 6, 12, 66, 67])
    return hdr + opts + extra + b"\xff"


def parse_dhcp(data, xid):
    if len(data) < 240 or data[0] != 2:
        return None
    (rxid,) = struct.unpack("!I", data[4:8])
    if rxid != xid or data[236:240] != b"\x63\x82\x53\x63":
        return None
    out = {"yiaddr": socket.inet_ntoa(data[16:20]), "siaddr": socket.inet_ntoa(data[20:24]),
           "file": data[108:236].split(b"\0", 1)[0].decode(), "opts": {}}
    i = 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, ln = data[i], data[i + 1]
        out["opts"][code] = data[i + 2:i + 2 + ln]
        i += 2 + ln
    return out


def dhcp(iface, mac, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    s.bind(("", 68))
    xid = random.getrandbits(32)
    deadline = time.monotonic() + timeout
    state, offer, attempt = "discover", None, 0
    try:
        while time.monotonic() < deadline:
            attempt += 1
            if state == "discover":
                say(f"BOOTP broadcast {attempt}\n")
                s.sendto(dhcp_packet(xid, mac, 1), ("255.255.255.255", 67))
            else:
                extra = bytes([50, 4]) + socket.inet_aton(offer["yiaddr"])
                extra += bytes([54, 4]) + offer["opts"][54]
                s.sendto(dhcp_packet(xid, mac, 3, extra), ("255.255.255.255", 67))
            s.settimeout(1.0)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                try:
                    data = s.recv(2048)
                except socket.timeout:
                    break
                msg = parse_dhcp(data, xid)
                if not msg or 53 not in msg["opts"]:
                    continue
                mtype = msg["opts"][53][0]
                if state == "discover" and mtype == 2 and 54 in msg["opts"]:
                    offer, state = msg, "request"
                    break
                if state == "request" and mtype == 5:
                    say(f"DHCP client bound to address {msg['yiaddr']}\n")
                    return msg
                if state == "request" and mtype == 6:
                    state = "discover"
                    break
    finally:
        s.close()
    raise BootError(f"DHCP: no answer from a DHCP server within {timeout:.0f}s "
                    f"(MAC {mac}: is it in dnsmasq.conf? is dnsmasq running?)")


# ---------------------------------------------------------------- TFTP

class TftpNotFound(BootError):
    pass


def tftp_get(server, path, dest, timeout=5.0, blksize=1468):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    rrq = b"\0\1" + path.encode() + b"\0octet\0blksize\0" + str(blksize).encode() + b"\0tsize\0" + b"0\0"
    s.sendto(rrq, (server, 69))
    expect, size, peer, bs = 1, 0, None, 512
    start = time.monotonic()
    try:
        with open(dest, "wb") as out:
            while True:
                try:
                    data, addr = s.recvfrom(65536)
                except socket.timeout:
                    raise BootError(f"TFTP {server}:{path}: timeout after block {expect - 1}") from None
                if peer is None:
                    peer = addr
                elif addr != peer:
                    continue
                op = struct.unpack("!H", data[:2])[0]
                if op == 5:
                    code = struct.unpack("!H", data[2:4])[0]
                    msg = data[4:].split(b"\0", 1)[0].decode(errors="replace")
                    if code == 1:
                        raise TftpNotFound(f"TFTP {server}:{path}: {msg}")
                    raise BootError(f"TFTP {server}:{path}: error {code}: {msg}")
                if op == 6:  # OACK
                    opts = data[2:].split(b"\0")
                    for k, v in zip(opts[::2], opts[1::2]):
                        if k.lower() == b"blksize":
                            bs = int(v)
                    s.sendto(b"\0\4\0\0", peer)
                    continue
                if op != 3:
                    continue
                (blk,) = struct.unpack("!H", data[2:4])
                if blk == (expect & 0xFFFF):
                    out.write(data[4:])
                    size += len(data) - 4
                    expect += 1
                s.sendto(b"\0\4" + data[2:4], peer)
                if blk == ((expect - 1) & 0xFFFF) and len(data) - 4 < bs:
                    break
    except BaseException:
        if os.path.exists(dest):
            os.unlink(dest)
        raise
    finally:
        s.close()
    secs = max(time.monotonic() - start, 1e-6)
    return size, secs


def pxe(args):
    say("\nU-Boot 2013.01 (mkmaster lab: Highbank emulation)\n\n")
    say(f"Net:   xgmac0 (MAC {args.mac})\n")
    iface = args.iface
    subprocess.run(["ip", "link", "set", iface, "up"], check=True)
    subprocess.run(["ip", "addr", "flush", "dev", iface], check=True)
    try:
        lease = dhcp(iface, args.mac, args.timeout)
        bootfile = lease["file"] or lease["opts"].get(67, b"").decode().rstrip("\0")
        if not bootfile:
            raise BootError(f"DHCP: the server offered no boot file to {args.mac} "
                            "(no set:lava-master tag for this MAC?)")
        server = lease["siaddr"]
        if server == "0.0.0.0":
            server = socket.inet_ntoa(lease["opts"][54])
        mask = lease["opts"].get(1, b"\xff\xff\xff\x00")
        prefix = ipaddress.IPv4Network(f"0.0.0.0/{socket.inet_ntoa(mask)}").prefixlen
        subprocess.run(["ip", "addr", "add", f"{lease['yiaddr']}/{prefix}", "dev", iface], check=True)
        say(f"Using xgmac0 device\nTFTP from server {server}; our IP address is {lease['yiaddr']}\n")
        say(f"Filename '{bootfile}'.\n")
        base = os.path.dirname(bootfile)
        base = base + "/" if base else ""
        os.makedirs(args.out, exist_ok=True)
        hexip = "%08X" % int(ipaddress.IPv4Address(lease["yiaddr"]))
        names = ["01-" + args.mac.replace(":", "-")] + [hexip[:n] for n in range(8, 0, -1)]
        names += ["default-arm-highbank", "default"]
        cfg_path = os.path.join(args.out, "pxelinux.cfg")
        found = None
        for n in names:
            remote = f"{base}pxelinux.cfg/{n}"
            say(f"Retrieving file: {remote}\n")
            try:
                tftp_get(server, remote, cfg_path)
                found = remote
                break
            except TftpNotFound:
                continue
        if not found:
            raise BootError(f"PXE: no pxelinux.cfg for {args.mac} under {base}pxelinux.cfg/ "
                            f"on {server} (tried {', '.join(names)})")
        with open(cfg_path) as f:
            label = parse_pxelinux(f.read(), f"tftp://{server}/{found}")
        say(f"{label['name']}:\tBooting {label['name']}\n")
        result = {"source": f"tftp://{server}/{found}", "label": label["name"],
                  "append": label.get("append", "")}
        for key in ("kernel", "initrd", "fdt"):
            if key not in label:
                continue
            remote = label[key].lstrip("/") if label[key].startswith("/") else base + label[key]
            say(f"Retrieving file: {remote}\n")
            local = os.path.join(args.out, key)
            size, secs = tftp_get(server, remote, local)
            if size == 0:
                raise BootError(f"PXE: {remote} on {server} is empty")
            say(f"Bytes transferred = {size} ({size:x} hex) in {secs:.2f}s\n")
            result[key] = local
        return result
    finally:
        # The node's NIC belongs to QEMU from now on: the same MAC must not
        # stay up twice on the lab bridge.
        subprocess.run(["ip", "addr", "flush", "dev", iface], check=False)
        subprocess.run(["ip", "link", "set", iface, "down"], check=False)


# ---------------------------------------------------------------- disk

def partitions(image):
    with open(image, "rb") as f:
        mbr = f.read(512)
    if len(mbr) < 512 or mbr[510:512] != b"\x55\xaa":
        raise BootError(f"disk {image}: no MBR partition table (the disk is blank or not flashed)")
    parts = []
    for i in range(4):
        e = mbr[446 + 16 * i:446 + 16 * (i + 1)]
        boot, ptype = e[0], e[4]
        start, count = struct.unpack("<II", e[8:16])
        if ptype and count:
            parts.append({"num": i + 1, "bootable": boot == 0x80, "type": ptype,
                          "offset": start * 512, "size": count * 512})
    if not parts:
        raise BootError(f"disk {image}: MBR has no partitions")
    if any(p["bootable"] for p in parts):
        parts = [p for p in parts if p["bootable"]]
    return parts


def fs_type(image, offset):
    with open(image, "rb") as f:
        f.seek(offset)
        head = f.read(2048)
    if len(head) >= 1082 and head[1080:1082] == b"\x53\xef":
        return "ext"
    if head[510:512] == b"\x55\xaa" and (head[54:59] == b"FAT12" or head[54:59] == b"FAT16"
                                         or head[82:87] == b"FAT32"):
        return "vfat"
    return None


def fs_read(image, part, fstype, path, dest):
    """Copy PATH out of the partition without mounting; False if absent."""
    if fstype == "ext":
        spec = f"{image}?offset={part['offset']}"
        r = subprocess.run(["debugfs", "-R", f"dump -p {path} {dest}", spec],
                           capture_output=True, text=True)
        if "not found" in r.stderr or "File not found" in r.stderr or not os.path.exists(dest):
            if os.path.exists(dest):
                os.unlink(dest)
            return False
        return True
    r = subprocess.run(["mcopy", "-n", "-o", "-i", f"{image}@@{part['offset']}", f"::{path}", dest],
                       capture_output=True, text=True)
    return r.returncode == 0 and os.path.exists(dest)


def disk(args):
    say("\nU-Boot 2013.01 (mkmaster lab: Highbank emulation)\n\n")
    say("scanning bus 0 for devices... 1 device(s) found\n")
    os.makedirs(args.out, exist_ok=True)
    tried = []
    for part in partitions(args.disk):
        fstype = fs_type(args.disk, part["offset"])
        if fstype is None:
            tried.append(f"partition {part['num']}: no ext2/3/4 or FAT file system")
            continue
        for prefix in ("/", "/boot/"):
            conf = prefix + "extlinux/extlinux.conf"
            local = os.path.join(args.out, "extlinux.conf")
            if not fs_read(args.disk, part, fstype, conf, local):
                tried.append(f"scsi 0:{part['num']} {conf}")
                continue
            say(f"Found {conf}\nRetrieving file: {conf}\n")
            with open(local) as f:
                label = parse_pxelinux(f.read(), f"scsi 0:{part['num']}{conf}")
            say(f"{label['name']}:\tBooting {label['name']}\n")
            result = {"source": f"scsi 0:{part['num']}{conf}", "label": label["name"],
                      "append": label.get("append", "")}
            if "fdtdir" in label and "fdt" not in label:
                # U-Boot: FDTDIR loads <dir>/$fdtfile, the board's own dtb.
                label["fdt"] = label["fdtdir"].rstrip("/") + "/" + getattr(args, "fdtfile", "highbank.dtb")
            for key in ("kernel", "initrd", "fdt"):
                if key not in label:
                    continue
                p = label[key] if label[key].startswith("/") else prefix + label[key]
                dest = os.path.join(args.out, key)
                say(f"Retrieving file: {p}\n")
                if not fs_read(args.disk, part, fstype, p, dest):
                    raise BootError(f"scsi 0:{part['num']}: {p} (named by {conf}) not found")
                result[key] = dest
            return result
        for prefix in ("/", "/boot/"):
            if fs_read(args.disk, part, fstype, prefix + "boot.scr", os.path.join(args.out, "boot.scr")):
                raise BootError(f"scsi 0:{part['num']}: {prefix}boot.scr found, but the lab's "
                                "U-Boot only emulates extlinux.conf distro boot")
    raise BootError(f"disk boot: nothing bootable on {args.disk}: " + "; ".join(tried))


def main(argv=None):
    ap = argparse.ArgumentParser(description="emulated Highbank U-Boot (PXE and disk boot)")
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("pxe")
    p.add_argument("--mac", required=True)
    p.add_argument("--iface", default="eth0")
    p.add_argument("--timeout", type=float, default=15.0)
    d = sub.add_parser("disk")
    d.add_argument("--disk", required=True)
    for x in (p, d):
        x.add_argument("--out", required=True)
        # U-Boot's fdtfile environment variable: which dtb the board is.
        x.add_argument("--fdtfile", default="highbank.dtb")
        x.add_argument("--result", required=True)
    args = ap.parse_args(argv)
    try:
        result = pxe(args) if args.mode == "pxe" else disk(args)
    except (BootError, OSError, subprocess.CalledProcessError) as e:
        say(f"\n## Boot failed: {e}\n=> ")
        print(f"uboot: error: {e}", file=sys.stderr)
        return 1
    say("## Booting kernel ...\n\nStarting kernel ...\n\n")
    with open(args.result, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
