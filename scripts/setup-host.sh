#!/usr/bin/env bash
# Installs the host (x86_64) packages the build, the tests and the lab need.
# Idempotent: packages already installed cost one dpkg-query.
set -euo pipefail

PKGS=(
  # build
  build-essential cmake ninja-build pkg-config git file
  libarchive-dev libcurl4-openssl-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev googletest
  zlib1g-dev libzstd-dev liblzma-dev libbz2-dev libxxhash-dev libsodium-dev libssl-dev
  libdeflate-dev  # the initrd's gzip segments (mkmaster/initrd/gzip_segments.cpp)
  libkmod-dev kmod
  clang libclang-rt-14-dev
  # armhf cross build + running it
  crossbuild-essential-armhf qemu-user-static
  # the emulated lab
  qemu-system-arm ipmitool openipmi dnsmasq iproute2 tftp-hpa
  u-boot-tools e2fsprogs dosfstools fdisk
  # tests and benchmarks
  curl python3 cpio bmap-tools initramfs-tools-core busybox-static
  time bc   # bench/initrd_build.sh
  nftables  # tests/faults/stall_test: a black-holed link between two namespaces
  # image sources: .bmap XML parser, sha256/sha1 for bmap checksums
  libexpat1-dev libssl-dev
  # packaging: the .deb (CPack DEB runs dpkg-shlibdeps), its lint, man pages
  dpkg-dev lintian man-db groff-base bash-completion
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-host: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "setup-host: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
