#!/usr/bin/env bash
# bench/rack/run.sh — flash a rack: N native target-agents, each in its own
# network namespace behind its own shaped link, and mkmaster in another one
# behind one link of the same rate. In one run, on the image of bench/flash
# (2 GiB ext4, ~25 % mapped, bench/lib/image.sh):
#   1. 1 node
#   2. N nodes --fanout star   (today's parallel pushes: the host link is shared)
#   3. N nodes --fanout chain  (the relay: node i forwards to node i+1)
#   4. N nodes chain, node KILL's agent killed halfway through
# and prints times, ratios against the single node and the CPU each row
# used. Not part of CI; needs root (network namespaces, tc).
#
# Topology: namespace mkrack-br holds a bridge; mkrack-h (mkmaster) and
# mkrack-n1…nN (one agent each, its target a file in a tmpfs: a node's disk
# is its own, not one disk shared by N writers) each join it by a veth
# pair shaped with `tc tbf rate RATE` on both ends, so every node's link and
# the host's uplink carry RATE each way, as a 1 Gbit/s switch port does.
#
# Env: BUILD (default build/bench, configured here Release), WORK (default
# /var/tmp/mkmaster-rack), N (8), KILL (4), RATE (1gbit; lower it when the
# single-node row is not link-bound: see the CPU lines), SIZE (2G),
# DATA_MIB (384), KEEP=1 keeps WORK.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build/bench}
WORK=${WORK:-/var/tmp/mkmaster-rack}
N=${N:-8}
KILL=${KILL:-4}
RATE=${RATE:-1gbit}
SIZE=${SIZE:-2G}
DATA_MIB=${DATA_MIB:-384}
NS_BR=mkrack-br NS_H=mkrack-h
NET=10.213.8 IP_H=10.213.8.1
PORT=7070
TD=$WORK/targets
. "$ROOT/bench/lib/image.sh"
. "$ROOT/bench/lib/net.sh"
. "$ROOT/bench/lib/report.sh"

require_root_and_tools bench/rack mkfs.ext4 bmaptool ip tc ss python3 cmp fallocate timeout
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 2 ] && [ "$N" -le 64 ] || { echo "bench/rack: N must be 2..64" >&2; exit 1; }
[[ $KILL =~ ^[0-9]+$ ]] && [ "$KILL" -ge 2 ] && [ "$KILL" -lt "$N" ] ||
  { echo "bench/rack: KILL must name a middle node (2..N-1)" >&2; exit 1; }
[[ $RATE =~ ^[0-9]+(k|m|g)bit$ ]] || { echo "bench/rack: RATE like 1gbit or 200mbit" >&2; exit 1; }

ns() { echo mkrack-n$1; }
ip_of() { echo $NET.$((10 + $1)); }

declare -A AGENT_PID=()
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for ((i = 1; i <= N; i++)); do ip netns del "$(ns $i)" 2>/dev/null || true; done
  ip netns del $NS_H 2>/dev/null || true
  ip netns del $NS_BR 2>/dev/null || true
  mountpoint -q "$TD" && umount "$TD"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"
}
trap cleanup EXIT


log "build (Release) in $BUILD"
# An existing build tree (BUILD=build/host) is used as configured.
[ -f "$BUILD/CMakeCache.txt" ] ||
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMKMASTER_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target mkmaster target-agent -j 2 >/dev/null
MKMASTER=$BUILD/mkmaster/mkmaster
AGENT=$BUILD/target-agent/target-agent
# The relay rows need a mkmaster whose direct push takes several agents.
HAVE_FANOUT=0
"$MKMASTER" push --help 2>/dev/null | grep -q -- '--fanout' && HAVE_FANOUT=1

rm -rf "$WORK" && mkdir -p "$WORK" "$TD"
log "image: $SIZE ext4 with ~$DATA_MIB MiB of files from /usr/lib and /usr/share"
make_bench_image "$WORK" "$SIZE" "$DATA_MIB"
echo "   image $IMG_BYTES bytes, mapped $MAPPED bytes ($(ratio $((MAPPED * 100)) $IMG_BYTES) %)"
# N sparse targets of the mapped size each, and room to spare.
mount -t tmpfs -o size=$(( (MAPPED >> 20) * (N + 1) + 256 ))m,mode=0700 mkrack "$TD"

log "network: $NS_H and $N nodes on a bridge in $NS_BR, every link tbf $RATE both ways"
ip netns add $NS_BR
ip -n $NS_BR link add br0 type bridge
ip -n $NS_BR link set br0 up
# join NS NAME IP: a veth from NS into the bridge, shaped at both ends.
join() {
  ip netns add "$1"
  ip link add "$2" netns "$1" type veth peer name "$2b" netns $NS_BR
  ip -n "$1" addr add "$3/24" dev "$2"
  ip -n "$1" link set lo up
  ip -n "$1" link set "$2" up
  ip -n $NS_BR link set "$2b" master br0 up
  tc -n "$1" qdisc add dev "$2" root tbf rate $RATE burst 512kb latency 20ms
  tc -n $NS_BR qdisc add dev "$2b" root tbf rate $RATE burst 512kb latency 20ms
}
join $NS_H mkr-h $IP_H
for ((i = 1; i <= N; i++)); do join "$(ns $i)" mkr-n$i "$(ip_of $i)"; done

log "link goodput (128 MiB over TCP, host -> node 1, and node 1 -> node 2)"
GOODPUT=$(tcp_goodput "$(ns 1)" "$(ip_of 1)" $NS_H 128)
HOP_GOODPUT=$(tcp_goodput "$(ns 2)" "$(ip_of 2)" "$(ns 1)" 128)
echo "   host->node: $(( GOODPUT / 1000000 )) MB/s, node->node: $(( HOP_GOODPUT / 1000000 )) MB/s"
LINK_S=$(awk -v b=$MAPPED -v g=$GOODPUT 'BEGIN { printf "%.2f", b / g }')
echo "   the mapped bytes need $LINK_S s at that goodput"

start_agent() {  # node
  local i=$1
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/secret$i"
  ip netns exec "$(ns $i)" "$AGENT" serve --listen "$(ip_of $i):$PORT" --secret-file "$WORK/secret$i" \
    --target "$TD/t$i.img" --allow-file > "$WORK/agent$i.log" 2>&1 &
  AGENT_PID[$i]=$!
  PIDS+=($!)
  wait_listen "$(ns $i)" "$(ip_of $i):$PORT"
}
for ((i = 1; i <= N; i++)); do start_agent $i; done

fresh_targets() { for ((i = 1; i <= N; i++)); do rm -f "$TD/t$i.img"; truncate -s "$IMG_BYTES" "$TD/t$i.img"; done; }
# CPU ticks: all cores busy (from /proc/stat), and one process (utime+stime).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
total_ticks() { awk '/^cpu / { s = 0; for (i = 2; i <= NF; i++) s += $i; print s; exit }' /proc/stat; }
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The largest VmHWM of these nodes' agents (MiB; a killed agent counts 0).
peak_rss_mib() {
  local m=0 r i
  for i in "$@"; do
    r=$(awk '/VmHWM/ { print $2 }' /proc/${AGENT_PID[$i]}/status 2>/dev/null || true)
    [ -n "$r" ] && [ "$r" -gt $m ] && m=$r
  done
  awk -v k=$m 'BEGIN { printf "%.1f", k / 1024 }'
}
HZ=$(getconf CLK_TCK)
CORES=$(nproc)

# A push's deadline: 20 × the link time of the mapped bytes, at least 2 min.
DEADLINE=$(awk -v l=$LINK_S 'BEGIN { d = int(20 * l); print d < 120 ? 120 : d }')
agent_args() {  # nodes...
  for i in "$@"; do printf -- '--agent %s:%s --secret-file %s ' "$(ip_of $i)" $PORT "$WORK/secret$i"; done
}

# row NAME KIND NODES...: runs one push of KIND (single, star, chain,
# chain-kill), prints seconds, CPU and how many targets equal the image.
# Sets ROW_S and ROW_OK.
row() {
  local name=$1 kind=$2; shift 2
  local nodes=("$@") t0 t1 b0 b1 a0 a1 rc=0 before=() i
  fresh_targets
  sync
  for i in "${nodes[@]}"; do before[$i]=$(proc_ticks ${AGENT_PID[$i]}); done
  b0=$(busy_ticks); a0=$(total_ticks)
  t0=$(now)
  case $kind in
    single)
      timeout -k 10 $DEADLINE ip netns exec $NS_H /usr/bin/time -f '%U %S' -o "$WORK/time.$name" \
        "$MKMASTER" push "$WORK/img.raw" --bmap "$WORK/img.bmap" $(agent_args "${nodes[@]}") --json \
        > "$WORK/$name.json" 2> "$WORK/$name.err" || rc=$?
      ;;
    star-procs)  # before --fanout: one mkmaster per node, all at once
      local ps=()
      for i in "${nodes[@]}"; do
        timeout -k 10 $DEADLINE ip netns exec $NS_H /usr/bin/time -f '%U %S' -o "$WORK/time.$name.$i" \
          "$MKMASTER" push "$WORK/img.raw" --bmap "$WORK/img.bmap" $(agent_args $i) --json \
          > "$WORK/$name.$i.json" 2> "$WORK/$name.$i.err" &
        ps+=($!)
      done
      for p in "${ps[@]}"; do wait "$p" || rc=$?; done
      cat "$WORK"/time.$name.* | awk '{ u += $1; s += $2 } END { print u, s }' > "$WORK/time.$name"
      ;;
    star|chain|chain-kill)
      local fan=${kind%-kill}
      timeout -k 10 $DEADLINE ip netns exec $NS_H /usr/bin/time -f '%U %S' -o "$WORK/time.$name" \
        "$MKMASTER" push "$WORK/img.raw" --bmap "$WORK/img.bmap" $(agent_args "${nodes[@]}") --fanout $fan --json \
        > "$WORK/$name.json" 2> "$WORK/$name.err" &
      local pp=$!
      if [ $kind = chain-kill ]; then
        # Halfway: half the single node's time (the chain's goal is about that).
        sleep "$(awk -v s=$T_SINGLE 'BEGIN { print s / 2 }')"
        echo "   killing node $KILL's agent (pid ${AGENT_PID[$KILL]}) at $(secs $t0 $(now)) s"
        kill -9 ${AGENT_PID[$KILL]} 2>/dev/null || true
        wait ${AGENT_PID[$KILL]} 2>/dev/null || true
      fi
      wait $pp || rc=$?
      ;;
  esac
  t1=$(now)
  b1=$(busy_ticks); a1=$(total_ticks)
  ROW_S=$(secs $t0 $t1)
  ROW_OK=0
  local bad=()
  for i in "${nodes[@]}"; do
    if cmp -s "$WORK/img.raw" "$TD/t$i.img"; then ROW_OK=$((ROW_OK + 1)); else bad+=($i); fi
  done
  local agents_cpu=0
  for i in "${nodes[@]}"; do
    agents_cpu=$((agents_cpu + $(proc_ticks ${AGENT_PID[$i]}) - ${before[$i]}))
  done
  # /usr/bin/time puts "Command exited with non-zero status N" first.
  read -r mk_u mk_s < <(tail -n 1 "$WORK/time.$name") || { mk_u=0; mk_s=0; }
  echo "   $name: ${ROW_S} s, exit $rc, $ROW_OK/${#nodes[@]} targets == image${bad:+ (differ: ${bad[*]})}"
  echo "     CPU: machine $(awk -v b=$((b1 - b0)) -v a=$((a1 - a0)) -v c=$CORES 'BEGIN { printf "%.0f", 100 * c * b / a }') % of ${CORES}00 %;" \
       "agents $(awk -v t=$agents_cpu -v h=$HZ -v s=$ROW_S 'BEGIN { printf "%.1f s (%.0f %%)", t / h, 100 * t / h / s }');" \
       "mkmaster $(awk -v u=$mk_u -v k=$mk_s -v s=$ROW_S 'BEGIN { printf "%.1f s (%.0f %%)", u + k, 100 * (u + k) / s }')"
  echo "     agents' peak RSS so far: $(peak_rss_mib "${nodes[@]}") MiB"
  if [ $rc != 0 ]; then
    # (A report without such a line must not end the run: pipefail.)
    { grep -h '"ok": *false' "$WORK/$name".json 2>/dev/null || true; } | cut -c1-300 | sed 's/^/     /'
    tail -n 3 "$WORK/$name.err" 2>/dev/null | sed 's/^/     /' || true
  fi
  ROW_RC=$rc
}

ALL=(); for ((i = 1; i <= N; i++)); do ALL+=($i); done
FAILED=0

log "1. one node"
row single single 1; T_SINGLE=$ROW_S
[ $ROW_OK = 1 ] || FAILED=1
if [ $HAVE_FANOUT = 1 ]; then
  log "2. $N nodes --fanout star"
  row star star "${ALL[@]}"; T_STAR=$ROW_S
else
  log "2. $N nodes star ($N mkmaster processes at once: this mkmaster has no --fanout)"
  row star star-procs "${ALL[@]}"; T_STAR=$ROW_S
fi
[ $ROW_OK = $N ] || FAILED=1
if [ $HAVE_FANOUT = 1 ]; then
  log "3. $N nodes --fanout chain (relay)"
  row chain chain "${ALL[@]}"; T_CHAIN=$ROW_S
  [ $ROW_OK = $N ] || FAILED=1
  log "4. $N nodes --fanout chain, node $KILL killed halfway"
  row chain-kill chain-kill "${ALL[@]}"; T_KILL=$ROW_S
  K_OK=$ROW_OK
  # Node KILL cannot hold the image; every other one must, and mkmaster
  # must say that some nodes failed.
  [ $K_OK = $((N - 1)) ] && [ $ROW_RC != 0 ] || FAILED=1
fi

RSS_MAX=$(peak_rss_mib "${ALL[@]}")
echo
echo "== results ($(( IMG_BYTES >> 20 )) MiB image, $(( MAPPED >> 20 )) MiB mapped, links tbf $RATE," \
     "TCP goodput $(( GOODPUT / 1000000 )) MB/s, $CORES cores, load before: $(cut -d' ' -f1-3 /proc/loadavg))"
printf "   %-28s %8s s\n" "1 node" "$T_SINGLE" "$N nodes star" "$T_STAR"
echo "   single / link time           = $(ratio $T_SINGLE $LINK_S)   (≈ 1: link-bound; more: CPU-bound, lower RATE)"
echo "   star($N) / single             = $(ratio $T_STAR $T_SINGLE)x   (expected ≈ $N)"
if [ $HAVE_FANOUT = 1 ]; then
  printf "   %-28s %8s s\n" "$N nodes chain" "$T_CHAIN" "$N nodes chain, $KILL killed" "$T_KILL"
  echo "   chain($N) / single            = $(ratio $T_CHAIN $T_SINGLE)x   (goal <= 1.15)"
  echo "   chain($N) kill / single       = $(ratio $T_KILL $T_SINGLE)x   (goal <= 1.3), $K_OK of $((N - 1)) others verified"
  echo "   per-hop overhead             = $(awk -v c=$T_CHAIN -v s=$T_SINGLE -v n=$N 'BEGIN { printf "%.3f", (c - s) / (n - 1) }') s" \
       "per hop ($(awk -v c=$T_CHAIN -v s=$T_SINGLE -v n=$N 'BEGIN { printf "%.2f", 100 * (c - s) / (n - 1) / s }') % of single)"
else
  echo "   (chain rows skipped: $MKMASTER has no --fanout yet)"
fi
# VmHWM counts the file pages of a dynamically linked agent's libraries,
# which the static armhf agent of the image does not have: say how many.
RSS_FILE=$(awk '/RssFile/ { printf "%.1f", $2 / 1024 }' /proc/${AGENT_PID[1]}/status 2>/dev/null || echo "?")
echo "   agent peak RSS               = $RSS_MAX MiB   (goal <= 16; VmHWM of the live agents over all rows," \
     "of which $RSS_FILE MiB are file pages: $(ldd "$AGENT" >/dev/null 2>&1 && echo "dynamically linked" || echo static))"
[ $FAILED = 0 ] || { echo "bench/rack: a row did not end as expected (see above)" >&2; exit 1; }
