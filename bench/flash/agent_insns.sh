#!/usr/bin/env bash
# bench/flash/agent_insns.sh: ARM instructions the node's agent executes per
# image byte, stage by stage. The static armhf target-agent runs under
#   QEMU_CPU=cortex-a9 qemu-arm-static -singlestep -d exec,nochain
# (one translation block per instruction and no chaining: qemu logs one line
# per executed instruction, with the function's symbol), on loopback, while
# the host's mkmaster pushes to it. Each scenario runs with two image sizes
# (random, every byte mapped and sent) and the difference of the counts is
# divided by the difference of the sizes, so start-up, handshake and the
# per-push constants cancel out. Debian's qemu-user has no TCG plugins
# (qemu-user-static cannot load them; there is no libinsn.so to load).
#
# Scenarios: "flash" = receive, MAC check, write (--no-verify); "+verify" =
# the same with the read-back after FINISH (O_DIRECT reads, XXH3-128 per
# block); "delta" = a --delta reflash of an unchanged image (the agent hashes
# its disk with SipHash; nothing is sent or written, nothing read back).
# The breakdown groups functions by what they do.
#
# Needs: qemu-user-static, the host build of mkmaster (MKMASTER=…), and an
# armhf agent *with symbols* (AGENT_ARM=…; built here with
# MKMASTER_STRIP_AGENT=OFF when missing: the same code as the shipped one).
# Takes a few minutes (qemu single-steps and logs every instruction).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MKMASTER=${MKMASTER:-$ROOT/build/host/mkmaster/mkmaster}
AGENT_ARM=${AGENT_ARM:-$ROOT/build/insns-armhf/target-agent/target-agent}
S1=${S1_MIB:-1} S2=${S2_MIB:-2}
PORT=${INSNS_PORT:-17461}
[ -x "$MKMASTER" ] || { echo "agent_insns: no $MKMASTER" >&2; exit 1; }
command -v qemu-arm-static >/dev/null || { echo "agent_insns: qemu-arm-static missing" >&2; exit 1; }
if [ ! -x "$AGENT_ARM" ]; then
  B=$ROOT/build/insns-armhf
  cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$ROOT/toolchains/armhf.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DMKMASTER_TESTS=OFF -DMKMASTER_STRIP_AGENT=OFF >/dev/null
  cmake --build "$B" --target target-agent >/dev/null
  AGENT_ARM=$B/target-agent/target-agent
fi

work=$(mktemp -d /tmp/mkmaster-insns.XXXXXX)
QPID=""
cleanup() {
  if [ -n "$QPID" ]; then kill "$QPID" 2>/dev/null || true; wait "$QPID" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secret"
chmod 600 "$work/secret"
for m in $S1 $S2; do head -c $((m << 20)) /dev/urandom >"$work/img$m"; done

# One counted agent process: pushes with "$@" to a fresh target of M MiB;
# prints "instructions" then "count symbol" lines.
run() {  # scenario M
  local scen=$1 m=$2 t=$work/target
  rm -f "$t"
  if [ "$scen" = delta ]; then cp "$work/img$m" "$t"; else truncate -s $((m << 20)) "$t"; fi
  mkfifo "$work/log"
  awk '{ n++; c[$NF]++ } END { print n; for (s in c) print c[s], s }' <"$work/log" >"$work/count.$scen.$m" &
  local apid=$!
  QEMU_CPU=cortex-a9 qemu-arm-static -singlestep -d exec,nochain -D "$work/log" "$AGENT_ARM" serve \
    --listen 127.0.0.1:$PORT --secret-file "$work/secret" --target "$t" --allow-file --io-timeout 600 --handshake-timeout 600 \
    >"$work/agent.log" 2>&1 &
  QPID=$!
  local i=0
  until ss -ltn "sport = :$PORT" | grep -q LISTEN; do  # no probe connection: it would be counted
    i=$((i + 1)); [ $i -lt 600 ] || { echo "agent_insns: agent did not start" >&2; exit 1; }
    sleep 0.1
  done
  local args=(--no-verify)
  case $scen in
    verify) args=(); "$MKMASTER" push --help 2>&1 | grep -q verify-overlap && args=(--verify-overlap never) ;;
    delta) args=(--delta) ;;
  esac
  "$MKMASTER" push "$work/img$m" --agent 127.0.0.1:$PORT --secret-file "$work/secret" --target "$t" \
    --stall-timeout 900 "${args[@]}" >/dev/null
  cmp -s "$work/img$m" "$t" || { echo "agent_insns: $scen $m MiB: target differs from the image" >&2; exit 1; }
  kill "$QPID"; wait "$QPID" 2>/dev/null || true; QPID=""
  wait "$apid"
  rm -f "$work/log"
}

# Instructions per byte between the two sizes, of all functions matching RE.
per_byte() {  # scenario regex
  awk -v re="$2" -v bytes=$(((S2 - S1) << 20)) -v f1="$work/count.$1.$S1" '
    FNR == 1 { next }
    FILENAME == f1 { if ($2 ~ re) a += $1; next }
    { if ($2 ~ re) b += $1 }
    END { printf "%.2f", (b - a) / bytes }' "$work/count.$1.$S1" "$work/count.$1.$S2"
}
total() {  # scenario
  awk -v bytes=$(((S2 - S1) << 20)) 'FNR == 1 { if (NR == 1) a = $1; else b = $1 } END { printf "%.2f", (b - a) / bytes }' \
    "$work/count.$1.$S1" "$work/count.$1.$S2"
}

for scen in flash verify delta; do for m in $S1 $S2; do run $scen $m; done; done

MAC='poly1305|chacha|crypto_aead|crypto_onetimeauth|crypto_verify|sodium_memcmp'
DIG='XXH'
SIP='siphash|crypto_shorthash'
CPY='memcpy|memmove|memset'
row() {  # label scenario
  local t m d sip c
  t=$(total "$2"); m=$(per_byte "$2" "$MAC"); d=$(per_byte "$2" "$DIG"); sip=$(per_byte "$2" "$SIP"); c=$(per_byte "$2" "$CPY")
  printf "   %-28s %6s instr/byte:  MAC %s, XXH3 %s, SipHash %s, memcpy/memset %s, the rest %s\n" "$1" "$t" "$m" "$d" "$sip" \
    "$c" "$(awk -v t="$t" -v m="$m" -v d="$d" -v s="$sip" -v c="$c" 'BEGIN { printf "%.2f", t - m - d - s - c }')"
}
echo "== agent instructions per image byte (armhf, QEMU_CPU=cortex-a9, $S1 vs $S2 MiB, 1 MiB DATA frames)"
row "first flash (no verify)" flash
row "first flash + verify" verify
row "reflash --delta, unchanged" delta
echo "   verify read-back alone      = $(awk -v a="$(total verify)" -v b="$(total flash)" 'BEGIN { printf "%.2f", a - b }') instr/byte"
echo "   goal: receive+MAC+write <= 4 instr/byte (one Cortex-A9 core at 1.1 GHz = 8.8 cycles/byte at 125 MB/s)"
if ! awk 'FNR > 1 && $2 ~ /^[A-Za-z_]/ { found = 1; exit } END { exit !found }' "$work/count.flash.$S2"; then
  echo "   ($AGENT_ARM has no symbols: no breakdown by function; build it with -DMKMASTER_STRIP_AGENT=OFF)"
  exit 0
fi
echo "   top functions, first flash:"
awk -v f1="$work/count.flash.$S1" -v bytes=$(((S2 - S1) << 20)) '
  FNR == 1 { next } FILENAME == f1 { a[$2] += $1; next } { b[$2] += $1 }
  END { for (s in b) { d = (b[s] - a[s]) / bytes; if (d >= 0.05) printf "     %6.2f  %s\n", d, s } }' \
  "$work/count.flash.$S1" "$work/count.flash.$S2" | sort -rn | head -8
