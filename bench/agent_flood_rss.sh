#!/usr/bin/env bash
# The real target-agent binary under the admission flood of issue 11: 10 idle
# connections, 4 slowloris peers trickling a byte every 0.5 s, then 1000
# connect/close cycles, then an authenticated push of a 32 MiB image. Prints
# VmRSS/VmHWM from /proc/PID/status at each stage (KiB), and the push's
# result. Loopback only.
#   bench/agent_flood_rss.sh BUILD_DIR   (default build/host)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/host}
agent=$build/target-agent/target-agent
mkm=$build/mkmaster/mkmaster
work=$(mktemp -d /tmp/agent-flood.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/secret"
chmod 600 "$work/secret"
truncate -s 64M "$work/disk"
head -c 16M /dev/urandom >"$work/img"
truncate -s 32M "$work/img"  # half data, half zeros
port=$((20000 + RANDOM % 20000))
"$agent" serve --listen "127.0.0.1:$port" --secret-file "$work/secret" --target "$work/disk" \
  --allow-file --handshake-timeout 5 2>"$work/agent.log" &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/agent.log" && break; sleep 0.1; done
grep -q listening "$work/agent.log" || { cat "$work/agent.log"; exit 1; }
mem() { awk -v s="$1" '/^VmRSS|^VmHWM/{printf "%s %s KiB  ", $1, $2} END{print "(" s ")"}' "/proc/$pid/status"; }
mem "started"
/usr/bin/python3 - "$port" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
for _ in range(6):  # 3 s of slowloris bytes
    for s in slow:
        try: s.send(b"\x00")
        except OSError: pass
    time.sleep(0.5)
t0 = time.monotonic()
for _ in range(1000):
    socket.create_connection(("127.0.0.1", port), timeout=5).close()
print(f"1000 connect/close cycles: {time.monotonic() - t0:.2f} s")
for s in idle + slow: s.close()
EOF
mem "after 10 idle, 4 slowloris, 1000 cycles"
if [ ! -x "$mkm" ]; then echo "no $mkm: no push measured"; exit 0; fi
t0=$(date +%s.%N)
"$mkm" push --agent "127.0.0.1:$port" --secret-file "$work/secret" --target "$work/disk" "$work/img" >"$work/push.log" 2>&1 ||
  { cat "$work/push.log"; exit 1; }
echo "push of 32 MiB (16 MiB data): $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s"
mem "after the push"
