#!/usr/bin/env bash
# Data pgrec's defaults were never tuned on (issue 14): synthetic ratings with shapes unlike
# MovieLens-100K and a known noise floor (the generator's noise std: the best possible RMSE),
# 80/20 split; mf with its defaults and with "tune": true against Surprise SVD (defaults) on the
# same rows, one run. Prints, per set, each model's test RMSE and the share of the gap between
# Surprise SVD and the floor that pgrec closes.
# Usage: benches/tune_synthetic.sh   (THREADS=2, PGREC_DB=pgrec_tune, SETS="1m 100k")
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
DB=${PGREC_DB:-pgrec_tune}
SETS=${SETS:-"1m 100k"}
VENV=${PGREC_BENCH_VENV:-target/bench-venv}
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import surprise, pandas' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy pandas scikit-surprise
fi
psql() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 "$@"; }
psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -q -d $DB -c "CREATE EXTENSION pgrec"
DIR=$(mktemp -d)
chmod 777 "$DIR"
for set in $SETS; do
  case $set in
    1m) USERS=6000; ITEMS=3700; RATINGS=1000000 ;;
    100k) USERS=6000; ITEMS=3700; RATINGS=100000 ;;
    *) echo "unknown set $set"; exit 1 ;;
  esac
  NOISE=0.8
  echo "== $set: $RATINGS ratings, $USERS users x $ITEMS items, noise $NOISE (the floor)"
  psql -q -d $DB <<SQL
SET client_min_messages = warning;
SET pgrec.threads = $THREADS;
DROP TABLE IF EXISTS s, sp;
CREATE TABLE s AS SELECT * FROM pgrec.synthetic_ratings($USERS, $ITEMS, $RATINGS, noise => $NOISE, seed => 7);
CREATE TABLE sp AS SELECT * FROM pgrec.split('s', test_fraction => 0.2, seed => 1);
COPY (SELECT user_id, item_id, rating FROM sp WHERE NOT is_test) TO '$DIR/train.tsv';
COPY (SELECT user_id, item_id, rating FROM sp WHERE is_test) TO '$DIR/test.tsv';
CREATE TEMP TABLE r (model text, rmse float8, seconds float8);
INSERT INTO r SELECT 'pgrec mf, defaults', (pgrec.evaluate('d', 'SELECT * FROM sp WHERE is_test')->>'rmse')::float8, t.train_seconds
  FROM pgrec.train('d', 'SELECT user_id, item_id, rating FROM sp WHERE NOT is_test') t;
INSERT INTO r SELECT 'pgrec mf, "tune": true', (pgrec.evaluate('t', 'SELECT * FROM sp WHERE is_test')->>'rmse')::float8, t.train_seconds
  FROM pgrec.train('t', 'SELECT user_id, item_id, rating FROM sp WHERE NOT is_test', params => '{"tune": true}') t;
\copy r TO '$DIR/pgrec.tsv'
SELECT metrics->'tune'->'winner' AS tune_winner, metrics->'tune'->'final_epochs' AS final_epochs
FROM pgrec.model_versions WHERE model = 't';
SELECT pgrec.drop_model('d'), pgrec.drop_model('t');
SQL
  "$VENV/bin/python" benches/tune_synthetic.py "$DIR/train.tsv" "$DIR/test.tsv" | tee "$DIR/surprise.txt"
  SVD=$(awk '/RESULT/ {print $4}' "$DIR/surprise.txt")
  awk -F'\t' -v svd="$SVD" -v floor="$NOISE" -v set="$set" 'BEGIN {
      printf "%-6s %-26s %8s %9s %s\n", "set", "model", "rmse", "seconds", "gap closed (Surprise SVD -> floor)"
      printf "%-6s %-26s %8.4f %9s\n", set, "Surprise SVD, defaults", svd, "-"
    }
    { printf "%-6s %-26s %8.4f %9.1f %6.1f%%\n", set, $1, $2, $3, 100 * (svd - $2) / (svd - floor) }' "$DIR/pgrec.tsv"
done
rm -rf "$DIR"
psql -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
