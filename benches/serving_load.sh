#!/usr/bin/env bash
# Serving under concurrent load (issue 33, item 2, first part): pgbench at 1, 4 and 16 clients
# calling similar_items and recommend (exact f32 scans) for random items and users of an ials
# model over 531,560 items x 64 (the ann_scale catalog). Reports QPS, mean and p99 latency
# (pgbench's per-transaction log). Compare library builds by running it once per build:
#   benches/serving_load.sh [label]        (PGREC_KEEP=1 keeps the database and model;
#                                           SECONDS_PER_RUN=20, THREADS=2: pgrec.threads)
set -euo pipefail
cd "$(dirname "$0")/.."
label=${1:-current}
db=pgrec_load_bench
secs=${SECONDS_PER_RUN:-20}
threads=${THREADS:-2}
BIN=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ "${PGREC_KEEP:-0}" != 1 ] || ! psql -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  psql -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgrec;
SET pgrec.threads = 2;
CREATE TABLE synth AS SELECT * FROM pgrec.synthetic_ratings(20000, 757000, 3000000, seed => 3);
SELECT version FROM pgrec.train('load', 'synth', 'ials', rating_col => NULL, params => '{"epochs": 2, "factors": 64}');
CREATE TABLE q_items AS SELECT row_number() OVER (ORDER BY item_id) AS n, item_id FROM pgrec.item_embeddings('load');
SELECT count(*) FROM pgrec.similar_items('load', 1::bigint, 10);
SQL
fi
n_items=$(psql -d $db -At -c "SELECT count(*) FROM q_items")
dir=$(mktemp -d /tmp/pgrec_load.XXXXXX)
chmod 777 "$dir"
cat > "$dir/similar.sql" <<SQL
\\set n random(1, $n_items)
SELECT count(*) FROM pgrec.similar_items('load', (SELECT item_id FROM q_items WHERE n = :n), 10);
SQL
cat > "$dir/recommend.sql" <<SQL
\\set u random(1, 20000)
SELECT count(*) FROM pgrec.recommend('load', :u::bigint, 10);
SQL
chmod 644 "$dir"/*.sql
psql -d $db -c "CREATE INDEX IF NOT EXISTS q_items_n ON q_items (n)"
echo "== $label: $n_items items x 64, exact f32 scans, pgrec.threads = $threads, $secs s per run"
printf '%-10s %8s %8s %10s %10s\n' call clients qps mean_ms p99_ms
for call in similar recommend; do
  for c in 1 4 16; do
    rm -f "$dir"/log*
    (cd "$dir" && runuser -u postgres -- env PGOPTIONS="-c pgrec.threads=$threads" "$BIN/pgbench" -n -c $c -j $(( c < 2 ? 1 : 2 )) -T "$secs" \
      -f "$dir/$call.sql" -l --log-prefix="$dir/log" -h /var/run/postgresql $db > "$dir/out" 2>&1) || { cat "$dir/out"; exit 1; }
    qps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/out")
    # per-transaction log: field 3 is the latency in microseconds
    read -r mean p99 < <(cat "$dir"/log* | awk '{print $3}' | sort -n | awk '{a[NR]=$1; s+=$1} END {printf "%.2f %.2f\n", s/NR/1000, a[int(NR*0.99)]/1000}')
    printf '%-10s %8s %8.1f %10s %10s\n' $call $c "$qps" "$mean" "$p99"
  done
done
rm -rf "$dir"
[ "${PGREC_KEEP:-0}" = 1 ] || psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
