#!/usr/bin/env bash
# Builds the fuzzers with clang (libFuzzer + ASan + UBSan) in their own build
# dir and runs each for SECONDS (default 60) on the corpus kept in the repo
# (<dir>/corpus/<target>: protocol/fuzz for the protocol's, mkmaster/lab/fuzz
# for the lab configuration's). New interesting inputs go to a scratch dir,
# not the repo. Exits non-zero on any crash.
#
#   run.sh [SECONDS]      build, then fuzz each target for SECONDS
#   run.sh --runs N       the long run: each target for N executions (no
#                         time bound; 10000000 takes hours on 2 cores)
#   run.sh --build-only   build the fuzzers and seed empty corpora only
#
# The targets run two at a time (one per core); each one's output goes to
# its log in the build dir, printed whole when it fails.
set -euo pipefail
build_only=0
runs=0
if [ "${1:-}" = --build-only ]; then build_only=1; shift; fi
if [ "${1:-}" = --runs ]; then
  runs=${2:?--runs needs a count}
  [[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs: not a positive count: $runs" >&2; exit 2; }
  shift 2
fi
secs=${1:-60}
[[ "$secs" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: not a positive number of seconds: $secs" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${MKMASTER_FUZZ_BUILD:-$root/build/fuzz}
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g1 -O1"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=Debug -DMKMASTER_TESTS=OFF -DMKMASTER_FUZZ=ON \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" -j2 --target frame_fuzz handshake_fuzz fuzz_seed_gen session_fuzz session_fuzz_seed_gen lab_config_fuzz
for t in frame_fuzz handshake_fuzz; do mkdir -p "$here/corpus/$t"; done
if [ -z "$(ls -A "$here/corpus/frame_fuzz")" ]; then
  "$build/protocol/fuzz/fuzz_seed_gen" "$here/corpus/frame_fuzz" "$here/corpus/handshake_fuzz"
fi
# The agent's session state machine (target-agent/fuzz): its corpus lives
# beside it.
agent_corpus="$root/target-agent/fuzz/corpus/session_fuzz"
mkdir -p "$agent_corpus"
if [ -z "$(ls -A "$agent_corpus")" ]; then
  "$build/target-agent/fuzz/session_fuzz_seed_gen" "$agent_corpus"
fi
[ "$build_only" = 1 ] && exit 0

lab="$root/mkmaster/lab/fuzz"
# One target: binary, corpus, extra flags. Runs in the background; its
# scratch corpus and log are named after it.
fuzz() {
  local t=$1 bin=$2 corpus=$3; shift 3
  local scratch rc=0
  scratch=$(mktemp -d)
  local bound=(-max_total_time="$secs")
  [ "$runs" = 0 ] || bound=(-runs="$runs")
  "$bin" "${bound[@]}" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$build/$t-" "$@" \
    "$scratch" "$corpus" >"$build/$t.log" 2>&1 || rc=$?
  rm -rf "$scratch"
  return $rc
}
# Waits for the named background runs and reports each.
failed=0
report() {
  local t pid
  for t in "$@"; do
    pid=${pids[$t]}
    if wait "$pid"; then
      echo "== $t: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second\(s\)' "$build/$t.log" | tail -n 1)"
    else
      echo "== $t FAILED:" >&2
      cat "$build/$t.log" >&2
      failed=1
    fi
  done
}
declare -A pids
what="${secs}s"
[ "$runs" = 0 ] || what="$runs runs"
echo "== frame_fuzz and handshake_fuzz for $what"
fuzz frame_fuzz "$build/protocol/fuzz/frame_fuzz" "$here/corpus/frame_fuzz" -max_len=65536 & pids[frame_fuzz]=$!
fuzz handshake_fuzz "$build/protocol/fuzz/handshake_fuzz" "$here/corpus/handshake_fuzz" -max_len=65536 & pids[handshake_fuzz]=$!
report frame_fuzz handshake_fuzz
echo "== session_fuzz and lab_config_fuzz for $what"
fuzz session_fuzz "$build/target-agent/fuzz/session_fuzz" "$agent_corpus" -max_len=65536 & pids[session_fuzz]=$!
fuzz lab_config_fuzz "$build/mkmaster/lab/fuzz/lab_config_fuzz" "$lab/corpus" -max_len=8192 -dict="$lab/lab.dict" & pids[lab_config_fuzz]=$!
report session_fuzz lab_config_fuzz
[ "$failed" = 0 ] || exit 1
echo "== fuzzing passed"
