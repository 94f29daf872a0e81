#!/usr/bin/env bash
# bench/initrd_build: `mkmaster build` vs `mkinitramfs` (initramfs-tools) in
# one run, warm cache, printing both times and the ratio.
#
# Comparable content (what the LAVA Highbank setup's `update-initramfs` would have built):
#  * mkmaster: hooks/master.manifest from the armhf sysroot (the LAVA Highbank setup's
#    master-extras tools + busybox + ethtool, the 4 requested modules and
#    their closure, /init, target-agent), gzip.
#  * mkinitramfs: the same tool list as an initramfs-tools hook, taken from
#    this x86 host (mkinitramfs can only copy the running system's files;
#    tools the host lacks are listed and left out), BUSYBOX=y, MODULES=list
#    with the same 4 modules (manual_add_modules resolves their closure from
#    the armmp module tree via modprobe), plus its standard hooks; gzip -n
#    (SOURCE_DATE_EPOCH set, as mkmaster's build is reproducible too).
#  mkinitramfs needs /lib/modules/<kver> (with modules.dep) and
#  /boot/config-<kver>: they are provided only inside a private mount
#  namespace (unshare -m: an overlay on /usr/lib and a tmpfs on /boot), so
#  the host is not modified. depmod runs before timing (warm cache: an
#  installed kernel has its modules.dep).
# Warm cache also means mkmaster's $MKMASTER_CACHE/deflate (compressed
# segments of unchanged files, filled by the warm-up run); the --no-cache
# line shows a cold build. Prints best-of-RUNS wall and CPU (user+sys,
# children included) times; CPU time is robust on a shared, busy machine.
# Needs root (unshare), the host build of mkmaster (MKMASTER=… or
# build/host/mkmaster/mkmaster) and scripts/setup.sh's sysroot.
set -euo pipefail
cd "$(dirname "$0")/.."
MKMASTER=${MKMASTER:-build/host/mkmaster/mkmaster}
CACHE=${MKMASTER_CACHE:-/var/cache/mkmaster}
SYSROOT=$CACHE/armhf/sysroot
RUNS=${RUNS:-3}
# gzip (the LAVA Highbank setup's initrd.gz; both at gzip's default level 6) or zstd (mkmaster
# level 3, mkinitramfs its default -9).
COMPRESS=${COMPRESS:-gzip}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
[ -x "$MKMASTER" ] || { echo "bench: no $MKMASTER (cmake --preset host && cmake --build --preset host)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root for unshare -m" >&2; exit 1; }
command -v mkinitramfs >/dev/null || { echo "bench: mkinitramfs missing (initramfs-tools-core)" >&2; exit 1; }
kver=$(ls "$SYSROOT/lib/modules" | head -1)
AGENT_ARGS=()
[ -n "${AGENT:-}" ] && AGENT_ARGS=(--agent "$AGENT")

work=$(mktemp -d /tmp/mkmaster-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- mkinitramfs set-up (not timed) ---
mkdir -p "$work/upper/modules" "$work/ovl-work" "$work/conf/hooks" "$work/conf/scripts" "$work/conf/conf.d"
cp -a "$SYSROOT/lib/modules/$kver" "$work/upper/modules/"
# depmod -b ROOT wants ROOT/lib/modules: point it at the copy.
mkdir -p "$work/droot/lib" && ln -s "$work/upper/modules" "$work/droot/lib/modules"
depmod -b "$work/droot" "$kver"
cat >"$work/conf/initramfs.conf" <<CONF
MODULES=list
BUSYBOX=y
KEYMAP=n
COMPRESS=$COMPRESS
DEVICE=
NFSROOT=auto
RUNSIZE=10%
FSTYPE=auto
RESUME=none
CONF
printf '%s\n' sata_highbank ahci_platform sd_mod xgmac >"$work/conf/modules"
missing=()
{
  echo '#!/bin/sh'
  echo '[ "$1" = prereqs ] && exit 0'
  echo '. /usr/share/initramfs-tools/hook-functions'
  for t in tar bzip2 gzip ping wget ifconfig parted resize2fs mkimage mkfs mkfs.ext2 mkfs.ext3 mkfs.ext4 \
           mkfs.vfat nc dhclient dhclient-script fdisk ip hostname rm mv bash ethtool; do
    if p=$(command -v "$t"); then echo "copy_exec $p"; else missing+=("$t"); fi
  done
  for l in libnss_files.so.2 libnss_dns.so.2 libnss_compat.so.2 libnss_hesiod.so.2; do
    [ -e "/lib/x86_64-linux-gnu/$l" ] && echo "copy_exec /lib/x86_64-linux-gnu/$l"
  done
  echo "copy_file config /etc/fstab /etc/fstab"
  echo "mkdir -p \"\$DESTDIR/lava\""
} >"$work/conf/hooks/master-extras"
chmod +x "$work/conf/hooks/master-extras"
echo "bench: host lacks ${missing[*]:-nothing}: left out of the mkinitramfs hook"

# Runs inside the private mount namespace: modules + kernel config visible, timed loop.
cat >"$work/mkinitramfs-ns.sh" <<NS
set -e
mount -t overlay overlay -o lowerdir=/usr/lib,upperdir=$work/upper,workdir=$work/ovl-work /usr/lib
mount -t tmpfs tmpfs /boot
cp "$SYSROOT/boot/config-$kver" /boot/
mkinitramfs -d "$work/conf" -o "$work/initrd.img" "$kver" 2>"$work/mkinitramfs.log"  # warm-up
for i in \$(seq $RUNS); do
  /usr/bin/time -a -o "$work/mkinitramfs.times" -f "%e %U %S" \\
    mkinitramfs -d "$work/conf" -o "$work/initrd.img" "$kver" 2>"$work/mkinitramfs.log"
done
lsinitramfs "$work/initrd.img" | wc -l >"$work/mkinitramfs.count"
NS

# --- mkmaster (warm-up, then best of RUNS) ---
"$MKMASTER" build --compress "$COMPRESS" "${AGENT_ARGS[@]}" --out "$work/tftp" 2>/dev/null
for i in $(seq "$RUNS"); do
  /usr/bin/time -a -o "$work/mkmaster.times" -f "%e %U %S" \
    "$MKMASTER" build --compress "$COMPRESS" "${AGENT_ARGS[@]}" --out "$work/tftp" 2>/dev/null
done
cp "$work"/tftp/master/files/highbank/initrd.* "$work/warm.initrd"
# The same build without the compressed-segment cache (a cold first build).
for i in $(seq "$RUNS"); do
  /usr/bin/time -a -o "$work/mkmaster-nocache.times" -f "%e %U %S" \
    "$MKMASTER" build --no-cache --compress "$COMPRESS" "${AGENT_ARGS[@]}" --out "$work/tftp" 2>/dev/null
done
mk_count=$("$MKMASTER" build "${AGENT_ARGS[@]}" --list 2>/dev/null | wc -l)
# Rebuilds are byte-identical, cache or not; the gzip is one member gzip -t accepts.
identical=yes
cmp -s "$work/warm.initrd" "$work"/tftp/master/files/highbank/initrd.* || identical=NO
gz_ok=n/a
[ "$COMPRESS" = gzip ] && { gzip -t "$work/warm.initrd" 2>/dev/null && gz_ok=yes || gz_ok=NO; }
# Both cores busy during the cold build: CPU time over wall time (2.0 = both).
cores() { awk -v c="$1" -v w="$2" 'BEGIN { printf "%.2f", c / w }'; }

# --- mkinitramfs (its first run warms the page cache, then best of RUNS) ---
RUNS_SAVED=$RUNS
unshare -m --propagation private sh "$work/mkinitramfs-ns.sh" || {
  echo "bench: mkinitramfs failed:" >&2; cat "$work/mkinitramfs.log" >&2; exit 1; }
# Best wall time and best CPU time (user+sys, children included) of the runs:
# CPU time is what the tool costs; wall time also shows how busy the machine was.
best() { awk 'NR==1||$1<w{w=$1} NR==1||$2+$3<c{c=$2+$3} END{printf "%.3f %.3f", w, c}' "$1"; }
read -r mk_wall mk_cpu <<<"$(best "$work/mkmaster.times")"
read -r ir_wall ir_cpu <<<"$(best "$work/mkinitramfs.times")"
read -r nc_wall nc_cpu <<<"$(best "$work/mkmaster-nocache.times")"

mk_size=$(stat -c %s "$work"/tftp/master/files/highbank/initrd.*)
ir_size=$(stat -c %s "$work/initrd.img")
printf 'bench: mkmaster build   wall %6.3f s  cpu %6.3f s  (%d entries, %s initrd %d bytes)\n' \
  "$mk_wall" "$mk_cpu" "$mk_count" "$COMPRESS" "$mk_size"
printf 'bench: mkmaster --no-cache wall %6.3f s  cpu %6.3f s  (cold: every segment deflated; %.1fx / %.1fx)\n' \
  "$nc_wall" "$nc_cpu" "$(echo "$ir_wall / $nc_wall" | bc -l)" "$(echo "$ir_cpu / $nc_cpu" | bc -l)"
printf 'bench: mkinitramfs      wall %6.3f s  cpu %6.3f s  (%d entries, %s initrd %d bytes)\n' \
  "$ir_wall" "$ir_cpu" "$(cat "$work/mkinitramfs.count")" "$COMPRESS" "$ir_size"
printf 'bench: ratio            wall %6.1fx    cpu %6.1fx  (best of %d runs each; load average %s)\n' \
  "$(echo "$ir_wall / $mk_wall" | bc -l)" "$(echo "$ir_cpu / $mk_cpu" | bc -l)" "$RUNS_SAVED" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'bench: goals            cold %.3f s (<= 1.0), warm %.3f s (<= 0.25), %.1fx mkinitramfs warm (>= 15), cold build on %s cores\n' \
  "$nc_wall" "$mk_wall" "$(echo "$ir_wall / $mk_wall" | bc -l)" "$(cores "$nc_cpu" "$nc_wall")"
printf 'bench: rebuilds byte-identical (warm vs --no-cache): %s; gzip -t: %s\n' "$identical" "$gz_ok"
[ "$identical" = yes ] && [ "$gz_ok" != NO ] || exit 1
