#!/usr/bin/env bash
# Runs every test: host release build (unit, integration, boot in QEMU),
# the ASan+UBSan build, and the static armhf build with its tests under
# qemu-arm-static. Does its own set-up first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

jobs=$(nproc)
run_preset() {
  local preset=$1; shift
  echo "== [$preset] configure + build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== [$preset] test"
  ctest --preset "$preset" -j "$jobs" "$@"
}

run_preset host
# The sanitizer build skips the slow emulated-boot tests: they exercise QEMU,
# not our memory safety, and already ran in the host build.
run_preset asan -LE 'boot|lab'
run_preset armhf
echo "== all test suites passed"
