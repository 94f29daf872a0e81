#!/usr/bin/env bash
# LAVA v2 pieces for the tests that prove the device dictionaries
# (docs/lava.md), idempotent and cached:
#
#   * Debian's lava-dispatcher (lava-run), installed with apt-get by name
#     and --no-install-recommends. It pulls ~134 packages (libguestfs, kernel
#     headers, bpfcc). Two guards keep the host as it is:
#       - no package that is already installed is upgraded: every upgrade
#         apt would do on the way (linux-libc-dev, linux-perf, ...) is held
#         at its installed version, so the host's g++ headers and everyone's
#         ccache stay valid;
#       - no daemon is left running: lava-worker and friends are systemd
#         units and there is no systemd here; if a policy-rc.d is absent we
#         install a temporary one that forbids starting services, and the
#         script checks afterwards that no lava process runs.
#   * the device-type templates (lava-server) and LAVA's device schema
#     (lava-common) WITHOUT installing lava-server: `apt-get download` +
#     `dpkg-deb -x` into $MKMASTER_CACHE/lava/root, like
#     fetch-armhf-sysroot.sh does for armhf.
#
#   $MKMASTER_CACHE/lava/debs   the downloaded .debs
#   $MKMASTER_CACHE/lava/root   them unpacked: usr/share/lava-server/device-types,
#                               usr/lib/python3/dist-packages/lava_common
set -euo pipefail

CACHE=${MKMASTER_CACHE:-/var/cache/mkmaster}/lava
LAVA_DEBS=(lava-server lava-common)
# jinja2/yaml/voluptuous: what rendering and the schema need (also
# dependencies of lava-dispatcher; listed so the render test's needs are explicit).
HOST_PKGS=(lava-dispatcher python3-jinja2 python3-yaml python3-voluptuous)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
APT_LOCK=(-o DPkg::Lock::Timeout=600)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${HOST_PKGS[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-lava: installing ${missing[*]}"
  $SUDO apt-get "${APT_LOCK[@]}" update -qq
  # Hold every already-installed package that this install would upgrade.
  mapfile -t holds < <(apt-get -s "${APT_LOCK[@]}" install --no-install-recommends "${missing[@]}" |
    sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\].*/\1=\2/p')
  [ ${#holds[@]} -eq 0 ] || echo "setup-lava: keeping installed versions of ${holds[*]}"
  temp_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    temp_policy=/usr/sbin/policy-rc.d
    trap '$SUDO rm -f "$temp_policy"' EXIT
    printf '#!/bin/sh\n# setup-lava.sh: no service starts while it installs\nexit 101\n' | $SUDO tee $temp_policy >/dev/null
    $SUDO chmod 755 $temp_policy
  fi
  rc=0
  $SUDO apt-get "${APT_LOCK[@]}" install -y -qq --no-install-recommends "${missing[@]}" "${holds[@]}" || rc=$?
  [ -z "$temp_policy" ] || $SUDO rm -f "$temp_policy"
  [ $rc -eq 0 ] || exit $rc
  if daemons=$(pgrep -f '^[^ ]*python3 /usr/bin/lava-(worker|dispatcher-host|docker-worker)'); then
    echo "setup-lava: the install started a LAVA daemon (pid $daemons); stop it" >&2
    exit 1
  fi
fi
# lava-run keeps its per-job scratch here and refuses to run without it.
$SUDO mkdir -p /var/lib/lava/dispatcher/tmp

# The stamp is this script (it names the packages): a second run costs no apt call.
stamp_want=$(sha256sum "$0" | cut -c1-16)
if [ -f "$CACHE/root/.mkmaster-stamp" ] && [ "$(cat "$CACHE/root/.mkmaster-stamp")" = "$stamp_want" ]; then
  echo "setup-lava: up to date ($CACHE/root)"
  exit 0
fi
rm -rf "$CACHE/debs.new" "$CACHE/root.new"
mkdir -p "$CACHE/debs.new" "$CACHE/root.new"
# apt-get download writes into the current directory.
(cd "$CACHE/debs.new" && apt-get -qq -o APT::Sandbox::User=root download "${LAVA_DEBS[@]}")
for d in "$CACHE"/debs.new/*.deb; do dpkg-deb -x "$d" "$CACHE/root.new"; done
test -f "$CACHE/root.new/usr/share/lava-server/device-types/highbank.jinja2"
test -f "$CACHE/root.new/usr/lib/python3/dist-packages/lava_common/schemas/device.py"
echo "$stamp_want" > "$CACHE/root.new/.mkmaster-stamp"
rm -rf "$CACHE/debs" "$CACHE/root"
mv "$CACHE/debs.new" "$CACHE/debs"
mv "$CACHE/root.new" "$CACHE/root"
echo "setup-lava: lava-server templates and lava-common in $CACHE/root"
