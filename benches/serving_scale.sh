#!/usr/bin/env bash
# Serving latency at catalog scale against numpy, side by side on the same embeddings (issue 12):
# trains an ials model on a synthetic catalog (default 757,000 items x 64 factors), times warm
# pgrec.recommend and pgrec.similar_items inside one backend (200 random queries after a
# warm-up, clock_timestamp around each call, so no client round trip), then writes the same
# embeddings to files and runs benches/serving_numpy.py (OpenBLAS, THREADS threads) on them.
# Usage: benches/serving_scale.sh [items] [users] [ratings]
#   (THREADS=2, PRECISION=f32 or f16 for the model's serving_precision, PGREC_DB=pgrec_bench)
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-757000}
USERS=${2:-20000}
RATINGS=${3:-3000000}
THREADS=${THREADS:-2}
PRECISION=${PRECISION:-f32}
DB=${PGREC_DB:-pgrec_bench}
VENV=${PGREC_BENCH_VENV:-target/bench-venv}
DIR=/tmp/pgrec-serving-$ITEMS
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import numpy' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet numpy
fi
psql() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 "$@"; }
psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -q -d $DB -c "CREATE EXTENSION pgrec"
echo "== training ials on $RATINGS synthetic interactions, $USERS users x $ITEMS items"
psql -q -d $DB <<SQL
SET client_min_messages = warning;
SET pgrec.threads = $THREADS;
CREATE TABLE synth AS SELECT * FROM pgrec.synthetic_ratings($USERS, $ITEMS, $RATINGS, seed => 3);
SELECT n_items, round(train_seconds::numeric, 1) AS train_seconds
FROM pgrec.train('scale', 'synth', 'ials', rating_col => NULL, params => '{"epochs": 2, "factors": 64, "serving_precision": "$PRECISION"}');
SQL
echo "== pgrec, pgrec.threads = $THREADS, serving_precision $PRECISION (warm backend)"
psql -d $DB <<SQL
\pset footer off
SET pgrec.threads = $THREADS;
CREATE TEMP TABLE lat (call text, ms float8);
DO \$\$
DECLARE i int; t timestamptz;
  items bigint[] := ARRAY(SELECT item_id FROM pgrec.item_embeddings('scale') ORDER BY item_id);
  users bigint[] := ARRAY(SELECT user_id FROM pgrec.user_embeddings('scale') ORDER BY user_id);
BEGIN
  PERFORM setseed(0.5);
  PERFORM count(*) FROM pgrec.recommend('scale', 1::bigint, 10);
  FOR i IN 1..220 LOOP
    t := clock_timestamp();
    PERFORM count(*) FROM pgrec.recommend('scale', users[1 + floor(random() * cardinality(users))::int], 10);
    IF i > 20 THEN INSERT INTO lat VALUES ('recommend', extract(epoch FROM clock_timestamp() - t) * 1000); END IF;
    t := clock_timestamp();
    PERFORM count(*) FROM pgrec.similar_items('scale', items[1 + floor(random() * cardinality(items))::int], 10);
    IF i > 20 THEN INSERT INTO lat VALUES ('similar_items', extract(epoch FROM clock_timestamp() - t) * 1000); END IF;
    t := clock_timestamp();
    PERFORM count(*) FROM pgrec.similar_items('scale', items[1 + floor(random() * cardinality(items))::int], 10, shrinkage => 0);
    IF i > 20 THEN INSERT INTO lat VALUES ('similar_items, shrinkage 0', extract(epoch FROM clock_timestamp() - t) * 1000); END IF;
  END LOOP;
END \$\$;
SELECT call, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p99_ms
FROM lat GROUP BY call ORDER BY call;
SQL
echo "== the same embeddings, numpy with $THREADS threads"
mkdir -p "$DIR"
psql -qAt -d $DB -c "SELECT n_items, n_users, factors FROM pgrec.model_versions WHERE model = 'scale' AND active" | tr '|' ' ' > "$DIR/shape.txt"
dump() { # query file
  psql -qAt -d $DB -c "COPY ($1) TO STDOUT" | "$VENV/bin/python" -c "
import sys, numpy as np
vals = [float(x) for line in sys.stdin for x in line.strip().strip('{}').split(',') if x]
np.asarray(vals, dtype=np.float32).tofile('$2')"
}
dump "SELECT embedding FROM pgrec.item_embeddings('scale') ORDER BY item_id" "$DIR/items.f32"
dump "SELECT ARRAY[bias] FROM pgrec.item_embeddings('scale') ORDER BY item_id" "$DIR/item_bias.f32"
dump "SELECT embedding FROM pgrec.user_embeddings('scale') ORDER BY user_id" "$DIR/users.f32"
OPENBLAS_NUM_THREADS=$THREADS "$VENV/bin/python" benches/serving_numpy.py "$DIR"
psql -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
