#!/usr/bin/env bash
# bench/flash/run.sh — flash a 2 GiB ext4 image (~25 % data) through a link
# shaped to 1 Gbit/s and time, in the same run:
#   1. curl URL | dd of=TARGET            (the LAVA Highbank setup's wget|dd, plus conv=fsync)
#   2. bmaptool copy --bmap B URL TARGET  (Debian bmap-tools)
#   3. mkmaster push URL --bmap B         (host) -> target-agent (node)
# then a reflash after changing 2 % of the image's blocks:
#   4. bmaptool copy again, 5. mkmaster push --delta (the image from its
#      path on the server, from the URL without an index, from the URL with
#      its image index — only the changed blocks fetched, docs/index.md —
#      and against a stale index, which must fail naming the first bad range)
# and prints the ratios. Not part of CI; needs root (network namespaces).
#
# Topology: namespace "mkbench-srv" (HTTP server, mkmaster) and
# "mkbench-tgt" (curl|dd, bmaptool, target-agent, the target file), joined
# by a veth pair with `tc tbf rate 1gbit` on both ends. curl|dd and bmaptool
# fetch the image over the link, as the node does today; mkmaster runs on
# the server (as it does in the lab: the machine that serves the image) and
# pushes over the same link. The first flash reads the URL like the others;
# the reflash is timed both from the image's path and from the URL — with
# the URL, the 2 GiB image (holes included: its .bmap ranges are too close
# together for Range requests to pay) crosses loopback HTTP from a Python
# server, which on 2 cores costs more than the link time of the changes.
#
# Env: BUILD (default build/bench, configured here Release), WORK
# (default /var/tmp/mkmaster-bench), SIZE (2G), DATA_MIB (384: with ext4 metadata ~25 % mapped), SEED (1),
# KEEP=1 keeps WORK, BASELINES_ONLY=1 stops after curl|dd and bmaptool.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build/bench}
WORK=${WORK:-/var/tmp/mkmaster-bench}
SIZE=${SIZE:-2G}
DATA_MIB=${DATA_MIB:-384}
SEED=${SEED:-1}
NS_S=mkbench-srv NS_T=mkbench-tgt
IP_S=10.213.7.1 IP_T=10.213.7.2
PORT_HTTP=8080 PORT_AGENT=7070
URL=http://$IP_S:$PORT_HTTP/img.raw
T=$WORK/target.img
. "$ROOT/bench/lib/image.sh"
. "$ROOT/bench/lib/net.sh"
. "$ROOT/bench/lib/report.sh"

require_root_and_tools bench/flash mkfs.ext4 bmaptool curl ip tc ss python3 cmp fallocate

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del $NS_S 2>/dev/null || true
  ip netns del $NS_T 2>/dev/null || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT


log "build (Release) in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMKMASTER_TESTS=OFF >/dev/null
if [ "${BASELINES_ONLY:-0}" != 1 ]; then
  cmake --build "$BUILD" --target mkmaster target-agent -j 2 >/dev/null
fi
MKMASTER=$BUILD/mkmaster/mkmaster
AGENT=$BUILD/target-agent/target-agent

rm -rf "$WORK" && mkdir -p "$WORK"
log "image: $SIZE ext4 with ~$DATA_MIB MiB of files from /usr/lib and /usr/share"
make_bench_image "$WORK" "$SIZE" "$DATA_MIB"
echo "   image $IMG_BYTES bytes, mapped $MAPPED bytes ($(ratio $((MAPPED * 100)) $IMG_BYTES) %)"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/secret"

log "network: $NS_S <-veth, tbf 1gbit-> $NS_T"
ip netns add $NS_S
ip netns add $NS_T
ip link add mkbv-s netns $NS_S type veth peer name mkbv-t netns $NS_T
ip -n $NS_S addr add $IP_S/24 dev mkbv-s
ip -n $NS_T addr add $IP_T/24 dev mkbv-t
for ns in $NS_S $NS_T; do ip -n $ns link set lo up; done
ip -n $NS_S link set mkbv-s up
ip -n $NS_T link set mkbv-t up
tc -n $NS_S qdisc add dev mkbv-s root tbf rate 1gbit burst 512kb latency 20ms
tc -n $NS_T qdisc add dev mkbv-t root tbf rate 1gbit burst 512kb latency 20ms

ip netns exec $NS_S python3 "$ROOT/mkmaster/source/testdata/range_http_server.py" \
  --root "$WORK" --bind $IP_S --port $PORT_HTTP --keep-alive >/dev/null 2>&1 &
PIDS+=($!)
wait_listen $NS_S $IP_S:$PORT_HTTP

# What TCP itself gets through this link (the ceiling for everyone).
log "link goodput (256 MiB over TCP)"
GOODPUT=$(tcp_goodput $NS_S $IP_S $NS_T 256)
echo "   $(( GOODPUT / 1000000 )) MB/s (line rate 125 MB/s)"

fresh_target() { rm -f "$T"; truncate -s "$IMG_BYTES" "$T"; sync; }
check_target() {  # name image
  if cmp -s "$2" "$T"; then echo "   $1: target == image"; else echo "   $1: TARGET DIFFERS FROM IMAGE"; FAILED=1; fi
}
FAILED=0

log "1. curl | dd"
fresh_target
t0=$(now)
ip netns exec $NS_T sh -c "curl -sSf '$URL' | dd of='$T' conv=notrunc,fsync status=none"
T_DD=$(secs $t0 $(now)); echo "   ${T_DD} s"
check_target curl-dd "$WORK/img.raw"

log "2. bmaptool copy"
fresh_target
t0=$(now)
ip netns exec $NS_T bmaptool -q copy --bmap "$WORK/img.bmap" "$URL" "$T"
T_BMAP=$(secs $t0 $(now)); echo "   ${T_BMAP} s"
check_target bmaptool "$WORK/img.raw"

if [ "${BASELINES_ONLY:-0}" = 1 ]; then
  echo "curl|dd ${T_DD} s, bmaptool ${T_BMAP} s (BASELINES_ONLY=1: stopping here)"
  exit $FAILED
fi

log "3. mkmaster push"
ip netns exec $NS_T "$AGENT" serve --listen $IP_T:$PORT_AGENT --secret-file "$WORK/secret" --target "$T" \
  --allow-file > "$WORK/agent.log" 2>&1 &
AGENT_PID=$!
PIDS+=($AGENT_PID)
wait_listen $NS_T $IP_T:$PORT_AGENT
fresh_target
push_from() {  # source extra-args...
  local src=$1; shift
  ip netns exec $NS_S "$MKMASTER" push "$src" --bmap "$WORK/img.bmap" --agent $IP_T:$PORT_AGENT \
    --secret-file "$WORK/secret" --target "$T" --json "$@" > "$WORK/push.json"
}
push() { push_from "$URL" "$@"; }
push_path() { push_from "$WORK/img.raw" "$@"; }
t0=$(now)
push
T_MK=$(secs $t0 $(now)); echo "   ${T_MK} s"
tail -n 1 "$WORK/push.json" | cut -c1-400
check_target mkmaster "$WORK/img.raw"
RSS_KB=$(awk '/VmHWM/ { print $2 }' /proc/$AGENT_PID/status)

log "reflash: change 2 % of the image's blocks"
cp --sparse=always "$WORK/img.raw" "$WORK/img.old"
python3 - "$WORK/img.raw" "$BLOCK" "$SEED" <<'PY'
import os, random, sys
path, block, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
n = os.path.getsize(path) // block
rng = random.Random(seed)
with open(path, "r+b") as f:
    for b in sorted(rng.sample(range(n), n * 2 // 100)):
        f.seek(b * block)
        f.write(os.urandom(block))
PY
bmaptool -q create -o "$WORK/img.bmap" "$WORK/img.raw"
cat "$WORK/img.raw" > /dev/null

log "4. bmaptool copy (reflash)"
cp --sparse=always "$WORK/img.old" "$T"; sync
t0=$(now)
ip netns exec $NS_T bmaptool -q copy --bmap "$WORK/img.bmap" "$URL" "$T"
T_BMAP2=$(secs $t0 $(now)); echo "   ${T_BMAP2} s"
check_target bmaptool-reflash "$WORK/img.raw"

# A delta reflash onto a fresh copy of the old image; its seconds go to VAR.
reflash() {  # name push-function VAR
  cp --sparse=always "$WORK/img.old" "$T"; sync
  local t0; t0=$(now)
  "$2" --delta
  printf -v "$3" '%s' "$(secs $t0 $(now))"
  echo "   ${!3} s"
  tail -n 1 "$WORK/push.json" | cut -c1-600
  check_target "$1" "$WORK/img.raw"
}
log "5a. mkmaster push --delta IMAGE-PATH (reflash)"
reflash mkmaster-delta push_path T_MK2
log "5b. mkmaster push --delta URL --index none (reflash, the whole image read over HTTP)"
push_noindex() { push --index none "$@"; }
reflash mkmaster-delta-url push_noindex T_MK3

# ---- reflash from the URL through an image index (docs/index.md) ----
# Body bytes the HTTP server sent for PATH so far (its /_sent counter).
server_sent() { ip netns exec $NS_S curl -sf "http://$IP_S:$PORT_HTTP/_sent" | awk -v p="$1" '$1 == p { print $2 }'; }
index_rows() {
  "$MKMASTER" index "$WORK/img.raw" -o "$WORK/img.raw.mkidx" > /dev/null
  INDEX_BYTES=$(stat -c %s "$WORK/img.raw.mkidx")
  # Changed bytes as the push sees them: the 4 KiB blocks that differ
  # between the old and the new image, and the boot sectors the agent wipes
  # at OPEN (the first MiB and the last 16.5 KiB); FIRST_BAD: the first
  # changed block past them (where the stale-index row spoils the image).
  read -r CHANGED_BYTES FIRST_BAD < <(python3 - "$WORK/img.old" "$WORK/img.raw" <<'PY'
import sys
old, new = (open(p, "rb") for p in sys.argv[1:3])
size = new.seek(0, 2); new.seek(0)
boot_end, tail = 1 << 20, size - (16 << 10) - 512
changed, first, off = 0, -1, 0
while True:
    a, b = old.read(4096), new.read(4096)
    if not b:
        break
    if a != b or off < boot_end or off + len(b) > tail:
        changed += len(b)
        if a != b and first < 0 and boot_end <= off < tail:
            first = off
    off += len(b)
print(changed, first)
PY
)
  local before; before=$(server_sent /img.raw)
  log "5c. mkmaster push --delta URL with its index (reflash; $INDEX_BYTES-byte index)"
  reflash mkmaster-delta-index push T_MK4
  FETCHED=$(( $(server_sent /img.raw) - ${before:-0} + $(server_sent /img.raw.mkidx) ))
  echo "   fetched from the server: $FETCHED bytes (index included) for $CHANGED_BYTES changed bytes"

  log "5d. mkmaster push --delta URL against a stale index (the image changed at $FIRST_BAD after indexing)"
  flip() { python3 -c "import sys; f = open(sys.argv[1], 'r+b'); f.seek(int(sys.argv[2]) + 7); b = f.read(1); f.seek(-1, 1); f.write(bytes([b[0] ^ 0xff]))" "$WORK/img.raw" "$FIRST_BAD"; }
  flip
  cp --sparse=always "$WORK/img.old" "$T"; sync
  if push --delta > /dev/null 2> "$WORK/stale.err"; then
    STALE="PUSHED (expected a failure)"; FAILED=1
  elif grep -q "stale index .*bytes \[$FIRST_BAD, $(( FIRST_BAD + 4096 )))" "$WORK/stale.err"; then
    STALE="fails, naming [$FIRST_BAD, $(( FIRST_BAD + 4096 ))) as the first bad range"
  else
    STALE="FAILED OTHERWISE: $(tail -n 1 "$WORK/stale.err" | cut -c1-300)"; FAILED=1
  fi
  echo "   $STALE"
  flip   # the image as it was
}
index_rows
RSS2_KB=$(awk '/VmHWM/ { print $2 }' /proc/$AGENT_PID/status)

LINK_NOMINAL=$(awk -v b=$MAPPED 'BEGIN { printf "%.2f", b / 125e6 }')
LINK_TCP=$(awk -v b=$MAPPED -v g=$GOODPUT 'BEGIN { printf "%.2f", b / g }')
AGENT_ARMHF=$ROOT/build/armhf/target-agent/target-agent
echo
echo "== results ($(( IMG_BYTES >> 20 )) MiB image, $(( MAPPED >> 20 )) MiB mapped, 1 Gbit/s link)"
printf "   %-34s %8s s\n" "curl | dd" "$T_DD" "bmaptool copy" "$T_BMAP" "mkmaster push" "$T_MK" \
  "bmaptool copy (reflash)" "$T_BMAP2" "mkmaster push --delta (path)" "$T_MK2" "mkmaster push --delta (URL)" "$T_MK3" \
  "mkmaster push --delta (URL, index)" "$T_MK4"
echo "   curl|dd / mkmaster        = $(ratio $T_DD $T_MK)x   (goal >= 3)"
echo "   bmaptool / mkmaster       = $(ratio $T_BMAP $T_MK)x   (goal >= 1.5)"
echo "   mkmaster / link time      = $(ratio $T_MK $LINK_NOMINAL) of ${LINK_NOMINAL} s at 125 MB/s," \
     "$(ratio $T_MK $LINK_TCP) of ${LINK_TCP} s at the measured TCP goodput   (goal <= 1.15)"
echo "   reflash bmaptool / delta  = $(ratio $T_BMAP2 $T_MK2)x   (goal >= 20; image read from its path on the server)"
echo "                             = $(ratio $T_BMAP2 $T_MK3)x   (image read from the URL, no index)"
echo "   reflash bmaptool / index  = $(ratio $T_BMAP2 $T_MK4)x   (goal >= 30; from the URL with its image index)"
echo "   fetched / (changed+index) = $(ratio $FETCHED $(( CHANGED_BYTES + INDEX_BYTES )))   (goal <= 1.2; $FETCHED / ($CHANGED_BYTES + $INDEX_BYTES) bytes)"
echo "   reflash, stale index      = $STALE"
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo "   agent peak RSS            = $(mib $RSS_KB) MiB after the first flash, $(mib $RSS2_KB) MiB after the reflashes   (goal <= 16)"
if [ -f "$AGENT_ARMHF" ]; then
  echo "   armhf agent (stripped)    = $(( $(stat -c %s "$AGENT_ARMHF") / 1024 )) KiB   (goal <= 2048)"
fi

# --- verify overlapped with the stream, and the node's instructions per byte ---
# (a block of its own: the rows above are the other benchmarks')
# The first flash again (the changed image, as the reflashes left it), with
# the read-back during the stream and after it; this machine's disk may call
# itself rotational (a virtio disk does by default), where `auto` defers.
nodeperf_rows() {
  local rot t_always t_never
  rot=$(cat "/sys/dev/block/$(( $(stat -c '0x%d' "$T") >> 8 )):$(( $(stat -c '0x%d' "$T") & 255 ))/queue/rotational" 2>/dev/null ||
        echo "?")
  log "6. mkmaster push, read-back overlapped with the stream (--verify-overlap always) and after it (never)"
  fresh_target; local t0; t0=$(now); push --verify-overlap always; t_always=$(secs $t0 $(now))
  echo "   always: ${t_always} s  $(tail -n 1 "$WORK/push.json" | grep -o '"verify":"[^"]*"')"
  check_target mkmaster-overlap "$WORK/img.raw"
  fresh_target; t0=$(now); push --verify-overlap never; t_never=$(secs $t0 $(now))
  echo "   never:  ${t_never} s"
  check_target mkmaster-after "$WORK/img.raw"
  echo "   time to verified / link time = $(ratio $t_always $LINK_NOMINAL) overlapped, $(ratio $t_never $LINK_NOMINAL)" \
       "after FINISH, of ${LINK_NOMINAL} s at 125 MB/s ($(ratio $t_always $LINK_TCP) / $(ratio $t_never $LINK_TCP) at the" \
       "measured goodput; goal <= 1.05; the target's disk says rotational=$rot: auto would $( [ "$rot" = 1 ] && echo defer || echo overlap))"
  if [ "${INSNS:-1}" = 1 ] && command -v qemu-arm-static >/dev/null; then
    MKMASTER=$MKMASTER "$ROOT/bench/flash/agent_insns.sh" || echo "   (agent_insns.sh failed)"
  fi
}
nodeperf_rows
# --- end of the verify-overlap / instructions block ---
[ $FAILED = 0 ] || { echo "bench/flash: a target differs from its image" >&2; exit 1; }
