#!/usr/bin/env bash
# One model copy per server (issue 12): the first similar_items call of new connections, and
# how much private memory (RssAnon) each backend adds, with shared serving files
# (pgrec.shared_serving = on, the default) and with a private copy per backend (off), side by
# side in one run on a synthetic catalog (default 757,000 item ids x 64 factors).
# Usage: benches/shared_serving.sh [items] [users] [ratings] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-757000}
USERS=${2:-20000}
RATINGS=${3:-3000000}
CONNS=${4:-4}
DB=${PGREC_DB:-pgrec_bench}
psql() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 "$@"; }
psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -q -d $DB -c "CREATE EXTENSION pgrec"
psql -q -d $DB <<SQL
SET client_min_messages = warning;
CREATE TABLE synth AS SELECT * FROM pgrec.synthetic_ratings($USERS, $ITEMS, $RATINGS, seed => 3);
SELECT n_items, round(train_seconds::numeric, 1) AS train_seconds
FROM pgrec.train('scale', 'synth', 'ials', rating_col => NULL, params => '{"epochs": 2, "factors": 64}');
SQL
item=$(psql -qAt -d $DB -c "SELECT min(item_id) FROM pgrec.item_embeddings('scale')")
factor_mb=$(psql -qAt -d $DB -c "SELECT round(n_items * factors * 4 / 1048576.0, 1) FROM pgrec.model_versions WHERE model = 'scale' AND active")
echo "item factors: $factor_mb MB"

# One new connection: its first similar_items call (ms, psql \timing) and the growth of its
# backend's RssAnon across the call (MB).
connection() { # shared_serving
  local out; out=$(mktemp)
  PGOPTIONS="-c pgrec.shared_serving=$1" ./scripts/psql.sh -X -qAt -d $DB \
    -c "SELECT pg_backend_pid()" -c "SELECT pg_sleep(1)" -c "\\timing on" \
    -c "SELECT count(*) FROM pgrec.similar_items('scale', $item::bigint, 10)" \
    -c "\\timing off" -c "SELECT pg_sleep(2)" > "$out" &
  local job=$! pid="" before after
  while [ -z "$pid" ]; do sleep 0.1; pid=$(head -1 "$out"); done
  sleep 0.5
  before=$(awk '/RssAnon/ {print $2}' /proc/$pid/status)
  while ! grep -q "^Time:" "$out"; do sleep 0.05; done
  after=$(awk '/RssAnon/ {print $2}' /proc/$pid/status)
  wait $job
  printf "%s | %s | %.1f\n" "$1" "$(grep '^Time:' "$out" | awk '{print $2}')" "$(echo "($after - $before) / 1024" | bc -l)"
  rm -f "$out"
}
echo "shared_serving | first call (ms) | backend RssAnon growth (MB)"
for mode in off on; do
  for c in $(seq 1 "$CONNS"); do connection $mode; done
done
du -sh "$(psql -qAt -d $DB -c 'SHOW data_directory')/pgrec_serving" 2>/dev/null || true
psql -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
