#!/usr/bin/env bash
# Accuracy on a family of generated rating sets, with MovieLens-100K alongside (issue 32): every
# cell of benches/accuracy_family.py (its header says what is measured) with 3 seeds, pgrec's
# defaults and "tune": true, vbmf and vbmf's tune from SQL beside Surprise SVD, the best
# bias-only model, MAP ALS with the generator's priors and BPMF, on the same rows; then the
# markdown tables.
# Usage: benches/accuracy_family.sh [run options of accuracy_family.py]
#   e.g. --cells small-100k,rank4 --seeds 1 --models svd,pgrec --arms '[{}]'
# Environment: THREADS=2, PGREC_DB=pgrec_family, FAMILY_RESULTS=target/family/results.jsonl
# (results accumulate there: a (cell, seed, model) already measured is skipped; delete the file
# to start over). Needs the extension installed in the main cluster (make install).
set -euo pipefail
cd "$(dirname "$0")/.."
export PGREC_DB=${PGREC_DB:-pgrec_family}
export FAMILY_RESULTS=${FAMILY_RESULTS:-target/family/results.jsonl}
VENV=${PGREC_FAMILY_VENV:-target/family-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import surprise, pandas, scipy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy scipy pandas scikit-surprise==1.1.5
fi
./scripts/fetch_movielens.sh
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 "$@"; }
if ! psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$PGREC_DB'" | grep -q 1; then
  psql -d postgres -c "CREATE DATABASE $PGREC_DB"
fi
psql -d "$PGREC_DB" -c "DROP EXTENSION IF EXISTS pgrec CASCADE" -c "CREATE EXTENSION pgrec"
"$VENV/bin/python" benches/accuracy_family.py run "$@"
"$VENV/bin/python" benches/accuracy_family.py table
