#!/usr/bin/env bash
# The .deb, checked as a user gets it (docs/packaging.md).
#   package_test.sh deb BUILD_DIR              pack it (cpack over the host build: nothing recompiled), unpack it
#   package_test.sh lintian BUILD_DIR          lintian, failing on errors
#   package_test.sh contents BUILD_DIR         dpkg-deb -c / -f: the file list and the control fields
#   package_test.sh run BUILD_DIR SOURCE_DIR   the unpacked mkmaster outside the checkout: --help, paths, labfiles, man -l
#   package_test.sh boot BUILD_DIR SOURCE_DIR  its `build` output boots in QEMU (tests/boot/boot_test.py)
set -euo pipefail
mode=$1 build=$2 src=${3:-}
pkg=$build/package
root=$pkg/root
fail() { echo "package_test: $*" >&2; exit 1; }
deb() {
  local d=("$pkg"/mkmaster_*_amd64.deb)
  [ -f "${d[0]}" ] || fail "no .deb in $pkg (the package_deb test makes it)"
  echo "${d[0]}"
}
# A directory outside the checkout holding an unrelated hooks/ (whose
# manifest would fail a build) that an installed mkmaster must not read.
elsewhere() {
  local d; d=$(mktemp -d /tmp/mkmaster-pkg-XXXXXX)
  mkdir -p "$d/hooks" "$d/pxelinux"
  echo "this is not a manifest" > "$d/hooks/master.manifest"
  echo "$d"
}

case $mode in
deb)
  rm -rf "$pkg" && mkdir -p "$pkg"
  cpack -G DEB --config "$build/CPackConfig.cmake" -B "$pkg" >"$pkg/cpack.log" 2>&1 || { cat "$pkg/cpack.log"; fail "cpack failed"; }
  mkdir "$root" && dpkg-deb -x "$(deb)" "$root"
  echo "package_test: $(deb) ($(stat -c %s "$(deb)") bytes)"
  ;;
lintian)
  # --fail-on error: warnings are listed (docs/packaging.md keeps the reasons) but do not fail.
  lintian --fail-on error --tag-display-limit 0 "$(deb)"
  ;;
contents)
  list=$(dpkg-deb -c "$(deb)" | awk '{print $6}' | sed 's|^\./|/|')
  for f in /usr/bin/mkmaster /usr/lib/mkmaster/target-agent /usr/share/mkmaster/hooks/master.manifest \
           /usr/share/mkmaster/hooks/hook-base.manifest /usr/share/mkmaster/hooks/master-extras \
           /usr/share/mkmaster/hooks/files/passwd /usr/share/mkmaster/pxelinux/default-arm.in /usr/share/mkmaster/boards/highbank.ini /usr/share/mkmaster/boards/midway.ini \
           /usr/share/mkmaster/scripts/fetch-armhf-sysroot.sh /usr/share/mkmaster/scripts/armhf-packages.txt \
           /usr/share/man/man1/mkmaster.1.gz /usr/share/man/man1/mkmaster-build.1.gz \
           /usr/share/bash-completion/completions/mkmaster /usr/share/doc/mkmaster/copyright \
           /usr/share/doc/mkmaster/changelog.Debian.gz /usr/share/doc/mkmaster/README.md \
           /usr/share/doc/mkmaster/docs/architecture.md /usr/share/lintian/overrides/mkmaster; do
    grep -qxF "$f" <<<"$list" || fail "missing $f"
  done
  # Nothing outside the FHS places of docs/packaging.md, no build or test leftovers.
  bad=$(grep -vE '^/(usr/?|usr/(bin|lib|share)/?|usr/bin/mkmaster|usr/lib/mkmaster/.*|usr/share/(mkmaster|man|doc|bash-completion|lintian)(/.*)?)$' <<<"$list" || true)
  [ -z "$bad" ] || fail "unexpected files: $bad"
  ! grep -qE 'testdata|_test|\.o$|CMake' <<<"$list" || fail "test or build files in the package"
  [ "$(dpkg-deb -c "$(deb)" | awk '$2 != "root/root"' | wc -l)" = 0 ] || fail "files not owned by root"
  depends=$(dpkg-deb -f "$(deb)" Depends)
  for lib in libc6 libarchive13 libcurl4 libsodium23 libssl3; do
    grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib (dpkg-shlibdeps): $depends"
  done
  [ "$(dpkg-deb -f "$(deb)" Recommends)" = "ipmitool, dnsmasq" ] || fail "Recommends: $(dpkg-deb -f "$(deb)" Recommends)"
  echo "package_test: $(wc -l <<<"$list") entries; Depends: $depends"
  ;;
run)
  mk=$root/usr/bin/mkmaster
  here=$(elsewhere); trap 'rm -rf "$here"' EXIT
  cd "$here"
  "$mk" --help | grep -q "Subcommands:" || fail "--help"
  paths=$("$mk" paths)
  echo "$paths"
  grep -qE "^data-dir +$root/usr/share/mkmaster\s+\(installed\)" <<<"$paths" || fail "data dir not found from the executable"
  grep -qE "^agent +$root/usr/lib/mkmaster/target-agent$" <<<"$paths" || fail "agent not the packaged one"
  # The variable relocates it (and a missing directory is a clear error).
  if out=$(MKMASTER_DATA_DIR=$here/nope "$mk" paths 2>&1); then fail "MKMASTER_DATA_DIR=missing: exit 0"; fi
  grep -qF "mkmaster: error: MKMASTER_DATA_DIR $here/nope: not a directory" <<<"$out" || fail "MKMASTER_DATA_DIR: $out"
  MKMASTER_DATA_DIR=$root/usr/share/mkmaster "$mk" paths | grep -q "(MKMASTER_DATA_DIR)" || fail "MKMASTER_DATA_DIR not used"
  "$mk" labfiles -i "$src/tests/node/data/lab.ini" -o "$here/lab" | grep -q "wrote"
  grep -q "dhcp-boot=tag:lava-master,master/pxelinux.0" "$here/lab/dnsmasq.conf" || fail "labfiles: dnsmasq.conf"
  for p in "$root"/usr/share/man/man1/*.1.gz; do
    out=$(MANWIDTH=80 man --warnings -l "$p" 2>&1 >/dev/null) || fail "man -l $p"
    [ -z "$out" ] || fail "man -l $p: $out"
  done
  MANWIDTH=80 man -l "$root/usr/share/man/man1/mkmaster.1.gz" | grep -q "EXIT STATUS" || fail "man -l mkmaster.1"
  # fetch-sysroot runs the packaged script with mkmaster's cache; a stand-in
  # apt-get (no network here) shows what it was asked and fails.
  mkdir -p "$here/fakebin"
  printf '#!/bin/sh\necho "fake apt-get $*"\nexit 3\n' > "$here/fakebin/apt-get" && chmod +x "$here/fakebin/apt-get"
  rc=0; out=$(PATH=$here/fakebin:$PATH MKMASTER_CACHE=$here/cache "$mk" fetch-sysroot 2>&1) || rc=$?
  [ "$rc" = 3 ] || fail "fetch-sysroot: exit $rc: $out"
  grep -q "fake apt-get .*Dir::State::Lists=$here/cache/armhf/apt/lists" <<<"$out" || fail "fetch-sysroot: $out"
  grep -qF "fetch-sysroot: $root/usr/share/mkmaster/scripts/fetch-armhf-sysroot.sh failed (exit status 3)" <<<"$out" \
    || fail "fetch-sysroot error: $out"
  echo "package_test: the unpacked mkmaster runs from $here"
  ;;
boot)
  here=$(elsewhere); trap 'rm -rf "$here"' EXIT
  cd "$here"
  # boot_test.py passes no --agent: the packaged one is used.
  env -u MKMASTER_AGENT /usr/bin/python3 "$src/tests/boot/boot_test.py" "$root/usr/bin/mkmaster"
  ;;
*) fail "unknown mode $mode" ;;
esac
