#!/usr/bin/env bash
# Downloads the armhf packages the project needs (static libraries for the
# agent, and everything the master image contains) WITHOUT touching the host's
# dpkg state: a private apt state that only downloads (never
# `dpkg --add-architecture armhf`, which breaks the host toolchain), then
# `dpkg-deb -x` into a sysroot.
#
#   $MKMASTER_CACHE/armhf/debs      the .deb files (mkmaster build --debs reads these)
#   $MKMASTER_CACHE/armhf/sysroot   all of them unpacked
#
# Idempotent: a stamp of the package list makes a second run cost ~0 s.
set -euo pipefail

CACHE=${MKMASTER_CACHE:-/var/cache/mkmaster}/armhf
here=$(cd "$(dirname "$0")" && pwd)
LIST="$here/armhf-packages.txt"
mapfile -t PKGS < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$LIST")

stamp_want=$(sha256sum "$LIST" "$0" | sha256sum | cut -c1-16)
if [ -f "$CACHE/sysroot/.mkmaster-stamp" ] && [ "$(cat "$CACHE/sysroot/.mkmaster-stamp")" = "$stamp_want" ]; then
  echo "fetch-armhf-sysroot: up to date ($CACHE/sysroot)"
  exit 0
fi

mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/archives/partial" "$CACHE/apt/etc/sources.list.d" "$CACHE/apt/etc/preferences.d"
cat > "$CACHE/apt/etc/sources.list" <<SRC
deb [arch=armhf signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb [arch=armhf signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
SRC
A=(-o APT::Architecture=armhf -o APT::Architectures=armhf
   -o Dir::State::Lists="$CACHE/apt/lists" -o Dir::Cache::archives="$CACHE/apt/archives"
   -o Dir::Cache="$CACHE/apt" -o Dir::State::status=/dev/null
   -o Dir::Etc::SourceList="$CACHE/apt/etc/sources.list"
   -o Dir::Etc::SourceParts="$CACHE/apt/etc/sources.list.d"
   -o Dir::Etc::Preferences="$CACHE/apt/etc/preferences"
   -o Dir::Etc::PreferencesParts="$CACHE/apt/etc/preferences.d"
   -o APT::Sandbox::User=root -o Debug::NoLocking=1 -o APT::Install-Recommends=0)

echo "fetch-armhf-sysroot: apt update (armhf, private state)"
apt-get -qq "${A[@]}" update
echo "fetch-armhf-sysroot: downloading ${#PKGS[@]} packages and their dependencies"
apt-get -qq -y "${A[@]}" install --download-only "${PKGS[@]}" >/dev/null

rm -rf "$CACHE/debs.new" && mkdir -p "$CACHE/debs.new"
cp "$CACHE"/apt/archives/*.deb "$CACHE/debs.new/"
# apt keeps superseded versions in archives/: keep only the newest of each name.
(cd "$CACHE/debs.new" && ls *.deb | sed 's/_.*//' | sort | uniq -d | while read -r n; do
   ls -1 "${n}"_*.deb | sort -V | head -n -1 | xargs -r rm -f; done)

rm -rf "$CACHE/sysroot.new" && mkdir -p "$CACHE/sysroot.new"
for d in "$CACHE"/debs.new/*.deb; do dpkg-deb -x "$d" "$CACHE/sysroot.new"; done
echo "$stamp_want" > "$CACHE/sysroot.new/.mkmaster-stamp"
rm -rf "$CACHE/debs" "$CACHE/sysroot"
mv "$CACHE/debs.new" "$CACHE/debs"
mv "$CACHE/sysroot.new" "$CACHE/sysroot"
echo "fetch-armhf-sysroot: $(ls "$CACHE/debs" | wc -l) packages in $CACHE/sysroot"
