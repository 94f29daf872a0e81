# bench/lib/report.sh — timing and printing helpers shared by the benchmarks.
# Source it.

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }     # START END
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }    # A B: A / B
log() { echo "== $*"; }
# NAME TOOL…: a network benchmark needs root (namespaces, tc) and these tools.
require_root_and_tools() {
  local name=$1 tool
  shift
  [ "$(id -u)" -eq 0 ] || { echo "$name: needs root (network namespaces, tc)" >&2; exit 1; }
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$name: missing $tool (scripts/setup-host.sh)" >&2; exit 1; }
  done
}
