# bench/lib/report.sh — timing and printing helpers shared by the benchmarks.
# Source it.

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }     # START END
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }    # A B: A / B
log() { echo "== $*"; }
