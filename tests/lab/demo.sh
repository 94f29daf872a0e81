#!/usr/bin/env bash
# The README's main job on the emulated lab, on built-in defaults and with no
# hardware: build the master image for every board, bring up an emulated
# Highbank node and an emulated Midway node (device_type in the inventory
# picks the board, and with it the QEMU machine), `mkmaster push` a small
# bootable test image to both in one command through the relay (the host
# streams to the Highbank node, which forwards to the Midway node), show
# each node booting from its disk, tear down. Needs root (network namespaces), the host
# packages (scripts/setup-host.sh) and the armhf sysroot.
#
#   tests/lab/demo.sh [MKMASTER_BINARY]      (default build/host/mkmaster/mkmaster)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mkmaster=$(realpath "${1:-${MKMASTER_BIN:-$root/build/host/mkmaster/mkmaster}}")
[ -x "$mkmaster" ] || { echo "demo: no mkmaster binary at $mkmaster (build the host preset)" >&2; exit 1; }

work=$(mktemp -d -t mkmaster-demo.XXXXXX)
state=$work/lab
cleanup() {
  python3 "$here/lab.py" down --state "$state" >/dev/null 2>&1 || true
  if [ "${MKMASTER_KEEP_TMP:-0}" != 0 ]; then echo "demo: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
t0=$(date +%s%N)
step() { local ms=$((($(date +%s%N) - t0) / 1000000)); printf '\n== [%4d.%01ds] %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$*"; }

step "mkmaster build --board all: each board's master image in one TFTP tree"
# The lab's menus: the project's, plus the image's boot option that QEMU's
# xgmac model needs (docs/lab.md); real Highbank nodes do without it.
sed 's/^append @APPEND@$/& mkmaster.sg=off/' "$root/pxelinux/default-arm.in" > "$work/menu.in"
grep -q 'mkmaster.sg=off' "$work/menu.in"
agent=()  # default: the armhf agent of mkmaster's own build
[ -n "${MKMASTER_AGENT:-}" ] && agent=(--agent "$MKMASTER_AGENT")
(cd "$root" && "$mkmaster" build --board all --out "$work/tftp" --pxelinux-template "$work/menu.in" "${agent[@]}")

step "the inventory: a Highbank and a Midway node, BMC password from a file"
umask 077
echo "demo-$$" > "$work/bmc-password"
mkdir "$work/device-types"
echo "client_type = highbank" > "$work/device-types/highbank.conf"
echo "client_type = highbank" > "$work/device-types/midway.conf"
cat > "$work/lab.ini" <<EOF
[lab]
network = 192.0.2.0/24
tftp_root = $work/tftp
device_types = device-types
device_type = highbank
bmc_user = admin
password_file = bmc-password
kernel_args = mkmaster.sg=off

[machine 01]

[node 01-01]
eth0_mac = fc:2f:40:01:01:00
eth0_ip = 192.0.2.11
bmc = 127.0.0.2

[node 01-02]
device_type = midway
eth0_mac = fc:2f:40:01:02:00
eth0_ip = 192.0.2.12
bmc = 127.0.0.3
EOF
cat "$work/lab.ini"
# Each node's own menu (pxelinux.cfg/01-<mac>, its board's files) goes into
# the TFTP root, as docs/lab.md says to.
"$mkmaster" labfiles --inventory "$work/lab.ini" --out "$work/labfiles"
install -m 0644 "$work"/labfiles/tftp/master/pxelinux.cfg/01-* "$work/tftp/master/pxelinux.cfg/"
grep -H '^fdt' "$work"/tftp/master/pxelinux.cfg/01-*

step "a small bootable test image (MBR + ext2 /boot with extlinux.conf)"
id="demo$$"
python3 "$here/make_test_image.py" disk "$work/test.img" --id "$id"
ls -l "$work/test.img"

step "lab up: dnsmasq (mkmaster labfiles), ipmi_sim BMC, emulated node"
python3 "$here/lab.py" up --inventory "$work/lab.ini" --state "$state" --mkmaster "$mkmaster"

step "mkmaster push test.img calxeda01-01 calxeda01-02 --fanout chain (power off, PXE, agent, one stream relayed by node 1 to node 2, verify each, disk boot)"
python3 "$here/lab.py" exec --state "$state" -- \
  "$mkmaster" push "$work/test.img" calxeda01-01 calxeda01-02 --inventory "$work/lab.ini" \
  --fanout chain --wait-login --log-dir "$work/logs"
# One copy left the host: node 1 was fed by it, node 2 by node 1.
grep -m1 "relay: node 1 of 2, fed by this host" "$work/logs/calxeda01-01.log"
grep -m1 "relay: node 2 of 2, fed by calxeda01-01" "$work/logs/calxeda01-02.log"

for node in calxeda01-01 calxeda01-02; do
  step "$node's console after the reset: it booted the flashed disk"
  console=$state/nodes/$node/console.log
  grep -a -m1 "Found /extlinux/extlinux.conf" "$console"
  grep -a -m1 "MKMASTER-FLASHED-$id" "$console"
  tail -c 300 "$console" | tr -d '\r'; echo
done
# The Midway node really was a Midway, on its own menu and dtb.
grep -a -m1 "Retrieving file: master/files/midway/ecx-2000.dtb" "$state/nodes/calxeda01-02/console.log"
grep -a -m1 "Retrieving file: /dtbs/ecx-2000.dtb" "$state/nodes/calxeda01-02/console.log"
grep -m1 "calxeda01-02: qemu -M midway" "$state/logs/labd.log"

step "lab down"
python3 "$here/lab.py" down --state "$state"
ip netns list | grep -c mkl- && { echo "demo: namespaces left" >&2; exit 1; } || true
step "done"
