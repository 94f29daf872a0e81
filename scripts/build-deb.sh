#!/usr/bin/env bash
# Builds build/host/package/mkmaster_<version>_amd64.deb from the host build
# (configured and built if needed; cpack then packs it without compiling
# anything again). docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset host >/dev/null
cmake --build --preset host
cpack -G DEB --config build/host/CPackConfig.cmake -B build/host/package
ls build/host/package/mkmaster_*_amd64.deb
