#!/usr/bin/env python3
"""Make small bootable Highbank test payloads from the armhf sysroot.

Two products, both built with user-space tools only (no mount, no loop
devices, no root needed):

* ``initrd``: a busybox initramfs whose /init prints a marker line, brings up
  the disk and eth0 when asked (``--net``: SATA modules for /dev/sda, xgmac,
  ``mkmaster.sg=off`` honoured with ethtool, DHCP with busybox udhcpc) and then shows a login-like prompt that
  leads to a shell.  The lab's own tests PXE-boot it to check the lab without
  depending on ``mkmaster build``.
* ``disk``: a raw disk image (MBR, one bootable ext2 partition holding
  vmlinuz, highbank.dtb, initrd.gz and extlinux/extlinux.conf) -- what a
  ``mkmaster push`` writes and what the lab's disk boot must find the way
  U-Boot's distro boot does.  The marker ``MKMASTER-FLASHED-<id>`` on the
  console proves that this very image was flashed.

Usage:
    make_test_image.py initrd OUT.gz --marker TEXT [--net]
    make_test_image.py disk OUT.img --id ID [--size-mib 32]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import uuid

KVER = "6.1.0-50-armmp"
# The SATA stack in load order (lab-notes: depends= from modinfo plus the
# crct10dif implementation that crc-t10dif needs but does not name).
SATA_MODULES = ["crypto/crct10dif_common", "crypto/crct10dif_generic", "lib/crc-t10dif",
                "lib/crc64", "lib/crc64-rocksoft", "block/t10-pi", "drivers/scsi/scsi_common",
                "drivers/scsi/scsi_mod", "drivers/scsi/sd_mod", "drivers/ata/libata",
                "drivers/ata/libahci", "drivers/ata/libahci_platform", "drivers/ata/sata_highbank"]
LIB_DIRS = ["lib/arm-linux-gnueabihf", "usr/lib/arm-linux-gnueabihf", "lib", "usr/lib"]


class ImageError(Exception):
    pass


def cache_dir():
    return os.environ.get("MKMASTER_CACHE", "/var/cache/mkmaster")


def sysroot():
    root = os.path.join(cache_dir(), "armhf", "sysroot")
    if not os.path.isfile(os.path.join(root, "boot", "vmlinuz-" + KVER)):
        raise ImageError(f"armhf sysroot missing: {root}/boot/vmlinuz-{KVER} "
                         "(run scripts/setup.sh or set MKMASTER_CACHE)")
    return root


# Every board's device tree goes in /dtbs/ of the test image; U-Boot's
# `fdtdir` picks the one its board names (fdtfile), so one image boots on
# Highbank and Midway nodes alike.
BOARD_DTBS = ("highbank.dtb", "ecx-2000.dtb")


def kernel_files():
    """The armmp kernel and the Highbank device tree from the sysroot."""
    root = sysroot()
    return (os.path.join(root, "boot", "vmlinuz-" + KVER),
            os.path.join(root, "usr/lib/linux-image-" + KVER, "highbank.dtb"))


def resolve_in_root(root, rel):
    """Follow symlinks of ROOT/rel without ever leaving ROOT (absolute links
    in an unpacked sysroot point at the host otherwise)."""
    parts = [p for p in rel.split("/") if p]
    done = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        cand = os.path.join(root, *done, name)
        if os.path.islink(cand):
            hops += 1
            if hops > 40:
                raise ImageError(f"symlink loop at {cand}")
            target = os.readlink(cand)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(name)
    return os.path.join(root, *done)


FIXED_TIME = 1700000000  # every file's mtime: the payloads are reproducible


def fix_times(tree):
    for d, dirs, files in os.walk(tree, topdown=False):
        for name in files + dirs:
            os.utime(os.path.join(d, name), (FIXED_TIME, FIXED_TIME), follow_symlinks=False)
    os.utime(tree, (FIXED_TIME, FIXED_TIME))


def needed_libs(path):
    out = subprocess.run(["readelf", "-d", path], check=True, capture_output=True,
                         text=True).stdout
    libs = []
    for line in out.splitlines():
        if "(NEEDED)" in line and "[" in line:
            libs.append(line.split("[", 1)[1].split("]", 1)[0])
    return libs


def find_lib(root, name):
    for d in LIB_DIRS:
        p = resolve_in_root(root, d + "/" + name)
        if os.path.isfile(p):
            return p
    raise ImageError(f"library {name} not found in {root}")


def add_program(root, tree, rel, dest=None):
    """Copy ROOT/rel into TREE/dest with its DT_NEEDED closure."""
    src = resolve_in_root(root, rel)
    if not os.path.isfile(src):
        raise ImageError(f"{rel} not found in sysroot {root}")
    dst = os.path.join(tree, (dest or rel).lstrip("/"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copy2(src, dst)
    todo = needed_libs(src)
    seen = set()
    while todo:
        lib = todo.pop()
        if lib in seen:
            continue
        seen.add(lib)
        lsrc = find_lib(root, lib)
        ldst = os.path.join(tree, "lib/arm-linux-gnueabihf", lib)
        os.makedirs(os.path.dirname(ldst), exist_ok=True)
        shutil.copy2(lsrc, ldst)
        todo.extend(needed_libs(lsrc))
    # The program interpreter lives at /lib/ld-linux-armhf.so.3.
    ld = os.path.join(tree, "lib/ld-linux-armhf.so.3")
    if not os.path.lexists(ld):
        os.symlink("arm-linux-gnueabihf/ld-linux-armhf.so.3", ld)


INIT = r"""#!/bin/busybox sh
# /init of a mkmaster lab test payload (tests/lab/make_test_image.py).
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo
echo "@MARKER@"
if [ "@NET@" = yes ]; then
  for m in @SATA@; do insmod /lib/modules/$m.ko; done
  insmod /lib/modules/xgmac.ko
  ip link set eth0 up
  # QEMU 7.2's xgmac model truncates multi-fragment TX frames: the same
  # boot option as the master image turns scatter-gather off.
  case " $(cat /proc/cmdline) " in
    *" mkmaster.sg=off "*) ethtool -K eth0 sg off && echo "lab: eth0 sg off" ;;
  esac
  udhcpc -i eth0 -n -q -t 5 -s /etc/udhcpc.script && ip -4 addr show eth0 | grep inet
fi
# From here on the console belongs to the login prompt, as a getty's does:
# late kernel messages (e.g. "deferred probe pending" at ~13 s) would
# otherwise land on the prompt's line, where LAVA's auto-login missed it.
dmesg -n 1 2>/dev/null
while true; do
  printf '\n@HOST@ login: '
  read -r user || sleep 1
  [ -n "$user" ] && break
done
export PS1='(initrd) # '
exec setsid cttyhack sh
"""

UDHCPC_SCRIPT = r"""#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" 2>/dev/null
    ;;
esac
exit 0
"""


def build_initrd(out, marker, net=False, host="mkmaster-test"):
    root = sysroot()
    with tempfile.TemporaryDirectory(prefix="mkmaster-initrd-") as tree:
        add_program(root, tree, "bin/busybox")
        init = INIT.replace("@MARKER@", marker).replace("@HOST@", host)
        init = init.replace("@NET@", "yes" if net else "no")
        init = init.replace("@SATA@", " ".join(os.path.basename(m) for m in SATA_MODULES))
        with open(os.path.join(tree, "init"), "w") as f:
            f.write(init)
        os.chmod(os.path.join(tree, "init"), 0o755)
        if net:
            add_program(root, tree, "sbin/ethtool")
            mod = f"lib/modules/{KVER}/kernel/drivers/net/ethernet/calxeda/xgmac.ko"
            os.makedirs(os.path.join(tree, "lib/modules"), exist_ok=True)
            shutil.copy2(resolve_in_root(root, mod), os.path.join(tree, "lib/modules/xgmac.ko"))
            for m in SATA_MODULES:
                src = resolve_in_root(root, f"lib/modules/{KVER}/kernel/{m}.ko")
                shutil.copy2(src, os.path.join(tree, "lib/modules", os.path.basename(m) + ".ko"))
            os.makedirs(os.path.join(tree, "etc"), exist_ok=True)
            with open(os.path.join(tree, "etc/udhcpc.script"), "w") as f:
                f.write(UDHCPC_SCRIPT)
            os.chmod(os.path.join(tree, "etc/udhcpc.script"), 0o755)
        fix_times(tree)
        names = subprocess.run("find . -mindepth 1 | LC_ALL=C sort", shell=True, cwd=tree,
                               check=True, capture_output=True).stdout
        cpio = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--reproducible",
                               "--quiet"], input=names, cwd=tree, check=True,
                              capture_output=True).stdout
        gz = subprocess.run(["gzip", "-9n"], input=cpio, check=True, capture_output=True).stdout
        with open(out, "wb") as f:
            f.write(gz)


EXTLINUX = """default flashed
timeout 1
menu title mkmaster test image {id}
label flashed
  kernel /vmlinuz
  fdtdir /dtbs/
  initrd /initrd.gz
  append console=ttyAMA0 mkmaster.image={id}
"""


def build_disk(out, image_id, size_mib=32):
    vmlinuz, dtb = kernel_files()
    part_start_mib = 1
    part_mib = size_mib - part_start_mib
    with tempfile.TemporaryDirectory(prefix="mkmaster-disk-") as tmp:
        boot = os.path.join(tmp, "boot")
        os.makedirs(os.path.join(boot, "extlinux"))
        shutil.copy2(vmlinuz, os.path.join(boot, "vmlinuz"))
        os.makedirs(os.path.join(boot, "dtbs"))
        for name in BOARD_DTBS:
            shutil.copy2(os.path.join(os.path.dirname(dtb), name), os.path.join(boot, "dtbs", name))
        build_initrd(os.path.join(boot, "initrd.gz"), f"MKMASTER-FLASHED-{image_id}",
                     host=f"flashed-{image_id}")
        with open(os.path.join(boot, "extlinux", "extlinux.conf"), "w") as f:
            f.write(EXTLINUX.format(id=image_id))
        fix_times(boot)
        fs = os.path.join(tmp, "boot.ext2")
        # Fixed UUIDs and timestamps keep the image reproducible per id.
        fs_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, "mkmaster-test-image:" + image_id))
        env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(FIXED_TIME))
        subprocess.run(["mkfs.ext2", "-q", "-F", "-L", "boot", "-d", boot, "-U", fs_uuid,
                        "-E", f"root_owner=0:0,hash_seed={fs_uuid}", fs, f"{part_mib}M"],
                       env=env,
                       check=True, capture_output=True)
        # mke2fs -d (1.47.0) stamps inode change/creation times with the
        # current time whatever E2FSPROGS_FAKE_TIME says: pin them.
        cmds = []
        for d, dirs, files in os.walk(boot):
            for name in [""] + dirs + files:
                rel = "/" + os.path.relpath(os.path.join(d, name), boot).lstrip(".")
                rel = "/" if rel in ("/", "/.") else rel
                if name == "" and d != boot:
                    continue
                for field in ("ctime", "crtime", "atime", "mtime"):
                    cmds.append(f"sif {rel} {field} @{FIXED_TIME}")
        cmds += [f"sif /lost+found {f} @{FIXED_TIME}" for f in ("ctime", "crtime", "atime", "mtime")]
        subprocess.run(["debugfs", "-w", "-f", "-", fs], input="\n".join(cmds).encode(), env=env,
                       check=True, capture_output=True)
        with open(out, "wb") as f:
            f.truncate(size_mib << 20)
        label_id = "0x" + fs_uuid[:8]
        layout = f"label: dos\nlabel-id: {label_id}\nstart={part_start_mib << 11}, type=83, bootable\n"
        subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", out],
                       input=layout.encode(), check=True, capture_output=True)
        subprocess.run(["dd", f"if={fs}", f"of={out}", "bs=1M", f"seek={part_start_mib}",
                        "conv=notrunc,sparse", "status=none"], check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("initrd")
    a.add_argument("out")
    a.add_argument("--marker", required=True)
    a.add_argument("--net", action="store_true")
    a.add_argument("--host", default="mkmaster-test")
    d = sub.add_parser("disk")
    d.add_argument("out")
    d.add_argument("--id", required=True)
    d.add_argument("--size-mib", type=int, default=32)
    args = ap.parse_args(argv)
    try:
        if args.what == "initrd":
            build_initrd(args.out, args.marker, args.net, args.host)
        else:
            build_disk(args.out, args.id, args.size_mib)
    except (ImageError, subprocess.CalledProcessError, OSError) as e:
        detail = getattr(e, "stderr", None)
        print(f"make_test_image: error: {e}" + (f": {detail.decode().strip()}" if detail else ""),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
