#!/usr/bin/env bash
# ease training time against the reference recipe (numpy float64 with OpenBLAS, np.linalg.inv),
# side by side on the same machine and the same interactions: a synthetic catalog with
# power-law popularity, 2 threads each. Rounds alternate the two.
# Usage: benches/ease_vs_numpy.sh [items] [users] [ratings] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-20000}
USERS=${2:-50000}
RATINGS=${3:-2000000}
ROUNDS=${4:-1}
THREADS=${THREADS:-2}
VENV=${PGREC_BENCH_VENV:-target/bench-venv}
DUMP=target/ease-bench-$ITEMS
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import numpy, scipy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy scipy
fi
cargo build --release --example ease_speed -p pgrec-core
BIN=target/release/examples/ease_speed
export OPENBLAS_NUM_THREADS=$THREADS
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round, load $(cut -d' ' -f1-3 /proc/loadavg)"
  THREADS=$THREADS "$BIN" "$ITEMS" "$USERS" "$RATINGS" "$DUMP" | grep RESULT
  "$VENV/bin/python" benches/ease_numpy.py "$DUMP" | grep RESULT
done
