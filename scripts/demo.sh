#!/usr/bin/env bash
# The README's main job, on built-in defaults and with no hardware:
#  1. set up this machine (host packages, armhf sysroot; idempotent, cached);
#  2. build mkmaster (host preset, which also builds the static armhf agent);
#  3. `mkmaster build`: the Highbank master image and TFTP tree in ./out/tftp;
#  4. flash an emulated Highbank node with `mkmaster push IMAGE NODE`
#     (QEMU -M highbank behind an ipmi_sim BMC and dnsmasq, tests/lab/):
#     power off, PXE boot of the master image, agent started over SOL,
#     image streamed + verified, bootdev disk, reset, node boots its disk.
# Needs root (network namespaces for the lab).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --preset host >/dev/null
cmake --build --preset host
# Reproducible: the stamp and every mtime come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
build/host/mkmaster/mkmaster build --out out/tftp

echo
echo "== out/tftp (serve it as dnsmasq's tftp-root)"
find out/tftp -type f -printf '%10s  %p\n' | sort -k2
echo
echo "== out/tftp/master/pxelinux.cfg/default-arm-highbank"
cat out/tftp/master/pxelinux.cfg/default-arm-highbank
echo
initrd=$(ls out/tftp/master/files/highbank/initrd*)
echo "== $initrd: $(build/host/mkmaster/mkmaster build --list 2>/dev/null | wc -l) entries; sha256 $(sha256sum "$initrd" | cut -c1-16)…"
echo "   (mkmaster build --list shows every file and why it is there)"

echo
echo "== flashing an emulated Highbank node (tests/lab/demo.sh)"
tests/lab/demo.sh build/host/mkmaster/mkmaster
