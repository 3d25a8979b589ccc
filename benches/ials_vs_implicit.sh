#!/usr/bin/env bash
# One ials iteration against implicit 0.7.3's CG iteration, side by side on the same machine
# and the same interactions (the MovieLens-20M shape of the synthetic generator, every row a 1,
# 64 factors, 3 CG steps (implicit fixes 3; pgrec's default), 2 threads, OPENBLAS_NUM_THREADS=1 as implicit advises). Rounds
# alternate pgrec and implicit so that load on the machine hits both alike.
# Usage: benches/ials_vs_implicit.sh [rounds] [iterations]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
ITERS=${2:-5}
THREADS=${THREADS:-2}
VENV=${PGREC_BENCH_VENV:-target/bench-venv}
DUMP=target/ials-bench
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import implicit' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet 'implicit==0.7.3' numpy scipy
fi
cargo build --release --example ials_speed -p pgrec-core
BIN=target/release/examples/ials_speed
# Write the interactions once (the run that writes them is not timed).
[ -f "$DUMP/shape.txt" ] || "$BIN" 1 "$DUMP" > /dev/null
export OPENBLAS_NUM_THREADS=1
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
  THREADS=$THREADS "$BIN" "$ITERS" | grep RESULT
  "$VENV/bin/python" benches/implicit_als.py "$DUMP" "$ITERS" "$THREADS" | grep RESULT
done
