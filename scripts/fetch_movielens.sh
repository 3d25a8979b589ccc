#!/usr/bin/env bash
# Fetches MovieLens-100K from the PyPI wheel recbole==1.2.1 (which ships it) into data/ml-100k.
# Idempotent: does nothing when the files are already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=data/ml-100k
if [ -s "$dest/ml-100k.inter" ] && [ -s "$dest/ml-100k.item" ] && [ -s "$dest/ml-100k.user" ]; then
  exit 0
fi
mkdir -p data/wheel "$dest"
if ! python3 -m pip --version >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
fi
python3 -m pip download --quiet --no-deps recbole==1.2.1 -d data/wheel
wheel=$(ls data/wheel/recbole-1.2.1-*.whl | head -1)
python3 - "$wheel" "$dest" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user"):
        data = z.read("recbole/dataset_example/ml-100k/" + name)
        with open(os.path.join(dest, name), "wb") as f:
            f.write(data)
PY
rm -rf data/wheel
echo "MovieLens-100K in $dest: $(($(wc -l < "$dest/ml-100k.inter") - 1)) ratings"
