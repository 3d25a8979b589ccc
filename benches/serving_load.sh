#!/usr/bin/env bash
# Serving under concurrent load (issue 33, item 2): pgbench at 1, 4, 16 and 64 clients calling
# similar_items, recommend and recommend_batch (16 users a call) for random items and users of
# a catalog of about 760k item ids x 64, served four ways: exact f32 scans, exact f16 scans,
# int8 codes (exact answers), and IVF at the probes its build measured for recall@10 0.95
# (ann_recall's default; when those would cover a quarter of the lists, the short list over
# every item's 4-bit codes measured for it).
# Reports QPS, mean, p50 and p99 latency (pgbench's per-transaction log). Two catalogs:
#   CATALOG=ials (default): ials, 2 epochs, on 3M synthetic interactions (531,560 items)
#   CATALOG=mf: mf, 3 epochs, on 10M synthetic rank-16 ratings (767,292 items): noisy vectors
#               (most items have a few ratings), where an IVF index finds no clusters
# Compare library builds by running it once per build:
#   benches/serving_load.sh [label]        (PGREC_KEEP=1 keeps the database and models;
#                                           SECONDS_PER_RUN=20, THREADS=2: pgrec.threads,
#                                           MODELS="load load_int8": only those)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/pgbench_stats.sh
label=${1:-current}
catalog=${CATALOG:-ials}
secs=${SECONDS_PER_RUN:-20}
threads=${THREADS:-2}
models=${MODELS:-load load_f16 load_int8 load_ivf}
case $catalog in
  ials)
    db=pgrec_load_bench
    data="pgrec.synthetic_ratings(20000, 757000, 3000000, seed => 3)"
    train="'ials', rating_col => NULL, params => '{\"epochs\": 2, \"factors\": 64"
    ;;
  mf)
    db=pgrec_load_mf
    data="pgrec.synthetic_ratings(20000, 800000, 10000000, rank => 16, seed => 3)"
    train="'mf', params => '{\"epochs\": 3, \"factors\": 64"
    ;;
  *) echo "CATALOG must be ials or mf" >&2; exit 2 ;;
esac
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 "$@"; }
if [ "${PGREC_KEEP:-0}" != 1 ] || ! psql -d postgres -At -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  psql -d $db >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION pgrec;
SET pgrec.threads = 2;
CREATE TABLE synth AS SELECT * FROM $data;
SELECT version FROM pgrec.train('load', 'synth', $train}');
SELECT version FROM pgrec.train('load_f16', 'synth', $train, "serving_precision": "f16"}');
SELECT version FROM pgrec.train('load_int8', 'synth', $train, "serving_precision": "int8"}');
SELECT version FROM pgrec.train('load_ivf', 'synth', $train, "ann": "ivf"}');
CREATE TABLE q_items AS SELECT row_number() OVER (ORDER BY item_id) AS n, item_id FROM pgrec.item_embeddings('load');
SELECT count(*) FROM pgrec.similar_items('load', 1::bigint, 10);
SQL
fi
n_items=$(psql -d $db -At -c "SELECT count(*) FROM q_items")
dir=$(mktemp -d /tmp/pgrec_load.XXXXXX)
chmod 777 "$dir"
psql -d $db -c "CREATE INDEX IF NOT EXISTS q_items_n ON q_items (n)"
psql -d $db -At -c "SELECT 'load_ivf: ' || coalesce((s->>'ann_probes') || ' probes', 'a short list of ' || (s->>'ann_shortlist') || ' over every item''s 4-bit codes', 'the exact scan') || ' of ' || (s->'ann'->>'lists') || ' lists, measured recall@10 ' || (s->>'ann_recall') FROM pgrec.embedding_stats('load_ivf') s"
echo "== $label ($catalog): $n_items items x 64, pgrec.threads = $threads, $secs s per run"
printf '%-9s %-10s %8s %8s %9s %9s %9s\n' model call clients qps mean_ms p50_ms p99_ms
for model in $models; do
  cat > "$dir/similar.sql" <<SQL
\\set n random(1, $n_items)
SELECT count(*) FROM pgrec.similar_items('$model', (SELECT item_id FROM q_items WHERE n = :n), 10);
SQL
  cat > "$dir/recommend.sql" <<SQL
\\set u random(1, 20000)
SELECT count(*) FROM pgrec.recommend('$model', :u::bigint, 10);
SQL
  cat > "$dir/batch.sql" <<SQL
\\set u random(1, 19984)
SELECT count(*) FROM pgrec.recommend_batch('$model', (SELECT array_agg(x::bigint) FROM generate_series(:u, :u + 15) x), 10);
SQL
  chmod 644 "$dir"/*.sql
  for call in similar recommend batch; do
    for c in 1 4 16 64; do
      stats=$(pgbench_stats "$dir" $db "$dir/$call.sql" $c "$secs" "-c pgrec.threads=$threads") || exit 1
      read -r qps mean p50 p99 <<< "$stats"
      printf '%-9s %-10s %8s %8.1f %9s %9s %9s\n' $model $call $c "$qps" "$mean" "$p50" "$p99"
    done
  done
done
rm -rf "$dir"
[ "${PGREC_KEEP:-0}" = 1 ] || psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
