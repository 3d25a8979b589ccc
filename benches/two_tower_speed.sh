#!/usr/bin/env bash
# two_tower seconds per epoch, pgrec next to the PyTorch reference, in one run on the same rows
# and features. Never run in CI (PyTorch is a ~4 GB install).
#   benches/two_tower_speed.sh <ml100k | synth:N> [epochs] [python with torch]
# e.g. python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy
#      benches/two_tower_speed.sh synth:5000000 1 /tmp/torchenv/bin/python
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-ml100k}
epochs=${2:-3}
python=${3:-python3}
dump=$(mktemp -d /tmp/pgrec_tt_speed.XXXXXX)
threads=${THREADS:-2}
cargo build --release --example neural_speed -p pgrec-core >/dev/null
echo "== pgrec ($data, $threads threads, batch 256, $epochs epochs)"
THREADS=$threads ./target/release/examples/neural_speed "$data" "{\"epochs\": $epochs}" "$dump"
echo "== PyTorch ($("$python" -c 'import torch; print(torch.__version__)'), same rows, features and architecture)"
"$python" benches/torch_two_tower.py "$dump" "$epochs" "$threads" 256
rm -rf "$dump"
