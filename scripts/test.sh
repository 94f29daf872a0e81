#!/usr/bin/env bash
# Runs every test: host release build (unit, integration, boot in QEMU, the
# emulated Highbank lab end to end), the ASan+UBSan build, the static armhf
# build with its tests under qemu-arm-static, and bounded protocol fuzzing.
# Does its own set-up first.
#
# The QEMU and lab tests run one guest at a time and leave a core mostly
# idle, so the later builds (ASan, armhf, the fuzzers) compile in the
# background at the lowest CPU priority while the tests before them run:
# the guests keep their timing, and the idle core does the compiling.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# lava-dispatcher and LAVA's templates, only for the tests labelled lava.
scripts/setup-lava.sh

jobs=$(nproc)
fuzz_seconds=${MKMASTER_FUZZ_SECONDS:-20}
logs=build/ci-logs
rm -rf "$logs"
mkdir -p "$logs"

build_preset() {
  cmake --preset "$1" >/dev/null && cmake --build --preset "$1" -j "$jobs"
}

echo "== [host] configure + build"
build_preset host

# The background builds, in the order the tests need them. Each writes its
# log and then its exit status; they stop at the first failure.
background_builds() {
  for stage in asan armhf fuzz; do
    local rc=0
    if [ "$stage" = fuzz ]; then
      protocol/fuzz/run.sh --build-only >"$logs/$stage.log" 2>&1 || rc=$?
    else
      build_preset "$stage" >"$logs/$stage.log" 2>&1 || rc=$?
    fi
    echo "$rc" >"$logs/$stage.rc"
    [ "$rc" = 0 ] || return "$rc"
  done
}
export -f background_builds build_preset
export logs jobs
# A new session is a new scheduler autogroup, which competes with ours as a
# whole whatever its members' nice: the builds lower their group too. They
# do it themselves, after setsid: written from here, right after the fork,
# it could still reach this script's own group and slow the tests instead.
setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; exec nice -n 19 bash -c background_builds' &
builds_pid=$!
# A failing stage ends the script: take the background builds with it.
trap 'kill -- -$builds_pid 2>/dev/null || true' EXIT

# Waits (at most 90 minutes) for a background build and prints its log.
wait_build() {
  local stage=$1 deadline=$((SECONDS + 5400))
  echo "== [$stage] build (in the background, nice 19)"
  until [ -e "$logs/$stage.rc" ]; do
    if ! kill -0 "$builds_pid" 2>/dev/null && [ ! -e "$logs/$stage.rc" ]; then
      echo "== [$stage] the background builds ended before this one" >&2
      cat "$logs"/*.log >&2 || true
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "== [$stage] build still running after 90 minutes" >&2
      return 1
    fi
    sleep 2
  done
  tail -n 3 "$logs/$stage.log"
  if [ "$(cat "$logs/$stage.rc")" != 0 ]; then
    echo "== [$stage] build failed:" >&2
    cat "$logs/$stage.log" >&2
    return 1
  fi
}

echo "== [host] test"
ctest --preset host -j "$jobs"
# The sanitizer build skips the slow emulated-boot tests and the package's:
# they exercise QEMU, LAVA and dpkg, not our memory safety, and already ran
# in the host build.
wait_build asan
echo "== [asan] test"
ctest --preset asan -j "$jobs" -LE 'boot|lab|lava|package'
wait_build armhf
echo "== [armhf] test"
ctest --preset armhf -j "$jobs"
# Bounded fuzzing (libFuzzer, clang, ASan+UBSan) of the frame decoder, the
# agent handshake, the agent's session and the lab configuration readers,
# each on its kept corpus (protocol/fuzz/run.sh).
wait_build fuzz
echo "== [fuzz] frames, handshake, agent session, lab configuration (${fuzz_seconds} s each)"
protocol/fuzz/run.sh "$fuzz_seconds"
echo "== all test suites passed"
