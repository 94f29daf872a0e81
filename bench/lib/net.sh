# bench/lib/net.sh — network-namespace helpers shared by the benchmarks.
# Source it; every wait has a deadline.

# wait_listen NS ADDR:PORT [TENTHS]: until something listens there, at most
# TENTHS × 0.1 s (default 100); exits the script otherwise.
wait_listen() {
  local i
  for ((i = 0; i < ${3:-100}; i++)); do
    ip netns exec "$1" ss -ltn | grep -q " $2 " && return 0
    sleep 0.1
  done
  echo "bench: nothing listens on $2 in $1" >&2
  exit 1
}

# tcp_goodput NS_RECV IP NS_SEND MIB: bytes/s that plain TCP gets from
# NS_SEND to IP:5999 in NS_RECV (MIB MiB, sendall of 1 MiB buffers): the
# ceiling of every method through that path. Bounded: the receiver exits
# after 120 s whatever happens.
tcp_goodput() {
  python3 - "$1" "$2" "$3" "$4" <<'PY'
import subprocess, sys
ns_recv, ip, ns_send, mib = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
srv = subprocess.Popen(["ip", "netns", "exec", ns_recv, "timeout", "120", "python3", "-c",
  "import socket\ns=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
  f"s.bind(('{ip}', 5999)); s.listen(1); print('ok', flush=True)\nc,_=s.accept()\nwhile c.recv(1<<20): pass"],
  stdout=subprocess.PIPE)
srv.stdout.readline()
out = subprocess.run(["ip", "netns", "exec", ns_send, "timeout", "120", "python3", "-c",
  f"import socket,time\ns=socket.create_connection(('{ip}',5999)); b=b'x'*(1<<20); t=time.time()\n"
  f"for i in range({mib}): s.sendall(b)\ns.shutdown(1); s.recv(1); print({mib}*(1<<20)/(time.time()-t))"],
  capture_output=True, text=True, timeout=130).stdout.strip()
srv.wait(10)
print(int(float(out)))
PY
}
