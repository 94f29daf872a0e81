#!/usr/bin/env bash
# Runs every test: host release build (unit, integration, boot in QEMU, the
# emulated Highbank lab end to end), the ASan+UBSan build, the static armhf
# build with its tests under qemu-arm-static, and bounded protocol fuzzing.
# Does its own set-up first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# lava-dispatcher and LAVA's templates, only for the tests labelled lava.
scripts/setup-lava.sh

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
# The sanitizer build skips the slow emulated-boot tests and the package's:
# they exercise QEMU, LAVA and dpkg, not our memory safety, and already ran
# in the host build.
run_preset asan -LE 'boot|lab|lava|package'
run_preset armhf
# Bounded fuzzing (libFuzzer, clang, ASan+UBSan) of the frame decoder, the
# agent handshake, the agent's session and the lab configuration readers,
# each on its kept corpus (protocol/fuzz/run.sh).
echo "== [fuzz] frames, handshake, agent session, lab configuration"
protocol/fuzz/run.sh "${MKMASTER_FUZZ_SECONDS:-20}"
echo "== all test suites passed"
