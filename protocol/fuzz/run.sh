#!/usr/bin/env bash
# Builds the fuzzers with clang (libFuzzer + ASan + UBSan) in their own build
# dir and runs each for SECONDS (default 60) on the corpus kept in the repo
# (<dir>/corpus/<target>: protocol/fuzz for the protocol's, mkmaster/lab/fuzz
# for the lab configuration's). New interesting inputs go to a scratch dir,
# not the repo. Exits non-zero on any crash.
set -euo pipefail
secs=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${MKMASTER_FUZZ_BUILD:-$root/build/fuzz}
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
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
for t in frame_fuzz handshake_fuzz session_fuzz; do
  scratch=$(mktemp -d)
  echo "== $t for ${secs}s"
  if [ "$t" = session_fuzz ]; then bin="$build/target-agent/fuzz/$t" corpus="$agent_corpus"
  else bin="$build/protocol/fuzz/$t" corpus="$here/corpus/$t"; fi
  "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$build/$t-" "$scratch" "$corpus"
  rm -rf "$scratch"
done
lab="$root/mkmaster/lab/fuzz"
scratch=$(mktemp -d)
echo "== lab_config_fuzz for ${secs}s"
"$build/mkmaster/lab/fuzz/lab_config_fuzz" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -dict="$lab/lab.dict" -artifact_prefix="$build/lab_config_fuzz-" "$scratch" "$lab/corpus"
rm -rf "$scratch"
echo "== fuzzing passed"
