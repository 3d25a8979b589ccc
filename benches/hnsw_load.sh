#!/usr/bin/env bash
# pgvector's HNSW under the same concurrent load as pgrec's IVF (issue 33, item 2): on the item
# vectors of serving_load.sh's model 'load' (run it once with PGREC_KEEP=1 first, with the same
# CATALOG: ials, the default, or mf), an HNSW index
# (vendored pgvector, m 16, ef_construction 64, cosine), its recall@10 against the exact cosine
# top 10 for 200 random items at several ef_search, then pgbench at 1, 4, 16 and 64 clients at
# the smallest ef_search reaching recall 0.95 (and 0.99 where one does; its best otherwise),
# beside pgrec's similar_items in the same run: IVF at the probes its build measured for recall
# 0.95, or the short list over 4-bit codes measured for it (model load_ivf; its own recall on the
# same 200 items is reported), and int8 codes (load_int8, exact answers).
# pgvector reads its index through shared buffers (pgrec's serving files are mapped): give the
# server room for it first (the issue's runs: shared_buffers 2GB).
#   benches/hnsw_load.sh      (CATALOG=ials, SECONDS_PER_RUN=8, THREADS=2: pgrec.threads,
#                              PGREC_MODELS="load_ivf load_int8": pgrec's rows)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/pgbench_stats.sh
case ${CATALOG:-ials} in
  ials) db=pgrec_load_bench ;;
  mf) db=pgrec_load_mf ;;
  *) echo "CATALOG must be ials or mf" >&2; exit 2 ;;
esac
pgrec_models=${PGREC_MODELS:-load_ivf load_int8}
secs=${SECONDS_PER_RUN:-8}
threads=${THREADS:-2}
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -d $db -At -c "SELECT count(*) FROM q_items" >/dev/null 2>&1 || {
  echo "run PGREC_KEEP=1 CATALOG=${CATALOG:-ials} benches/serving_load.sh first (it keeps database $db and its models)"; exit 1; }
echo "== pgvector $(psql -At -d $db -c "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'") HNSW (m 16, ef_construction 64) on the item vectors of model 'load'"
psql -d $db <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS pv, hnsw_q, hnsw_exact, hnsw_got;
CREATE TABLE pv AS SELECT item_id, embedding::vector(64) AS v FROM pgrec.item_embeddings('load');
ALTER TABLE pv ADD PRIMARY KEY (item_id);
SET maintenance_work_mem = '4GB';
SET max_parallel_maintenance_workers = 1;
\timing on
CREATE INDEX pv_hnsw ON pv USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64);
\timing off
VACUUM ANALYZE pv;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;
SELECT pg_prewarm('pv') + pg_prewarm('pv_hnsw') AS prewarmed_blocks,
       pg_size_pretty(pg_relation_size('pv_hnsw')) AS index_size,
       current_setting('shared_buffers') AS shared_buffers;
-- 200 random query items and their exact cosine top 10 (a scan, no index)
CREATE TABLE hnsw_q AS SELECT item_id FROM q_items ORDER BY hashint8(item_id * 7919) LIMIT 200;
CREATE TABLE hnsw_exact (q bigint, item_id bigint);
CREATE TABLE hnsw_got (ef int, q bigint, item_id bigint);
DO $$
DECLARE r record; qv vector;
BEGIN
  SET LOCAL enable_indexscan = off;
  FOR r IN SELECT item_id FROM hnsw_q LOOP
    SELECT v INTO qv FROM pv WHERE item_id = r.item_id;
    INSERT INTO hnsw_exact SELECT r.item_id, x.item_id
      FROM (SELECT item_id FROM pv ORDER BY v <=> qv LIMIT 11) x WHERE x.item_id <> r.item_id;
  END LOOP;
END $$;
CREATE PROCEDURE hnsw_run(ef int) LANGUAGE plpgsql AS $$
DECLARE r record; qv vector;
BEGIN
  PERFORM set_config('hnsw.ef_search', ef::text, true);
  FOR r IN SELECT item_id FROM hnsw_q LOOP
    SELECT v INTO qv FROM pv WHERE item_id = r.item_id;
    INSERT INTO hnsw_got SELECT ef, r.item_id, x.item_id
      FROM (SELECT item_id FROM pv ORDER BY v <=> qv LIMIT 11) x WHERE x.item_id <> r.item_id;
  END LOOP;
END $$;
CALL hnsw_run(40);
CALL hnsw_run(100);
CALL hnsw_run(200);
CALL hnsw_run(400);
CALL hnsw_run(1000);
DROP PROCEDURE hnsw_run;
\pset footer off
SELECT g.ef AS ef_search, round(count(*)::numeric / (SELECT count(*) FROM hnsw_exact), 3) AS recall_at_10
FROM hnsw_got g JOIN hnsw_exact e ON e.q = g.q AND e.item_id = g.item_id
GROUP BY g.ef ORDER BY g.ef;
SQL
pick() { # smallest ef_search reaching recall $1, empty if none
  psql -d $db -At -c "SELECT min(ef) FROM (SELECT g.ef, count(*)::numeric / (SELECT count(*) FROM hnsw_exact) AS r
    FROM hnsw_got g JOIN hnsw_exact e ON e.q = g.q AND e.item_id = g.item_id GROUP BY g.ef) s WHERE r >= $1"
}
ef95=$(pick 0.95); ef99=$(pick 0.99)
# where 0.95 is out of reach: the smallest ef_search within 0.005 of the best recall measured
best=$(psql -d $db -At -c "SELECT max(r) - 0.005 FROM (SELECT count(*)::numeric / (SELECT count(*) FROM hnsw_exact) AS r
    FROM hnsw_got g JOIN hnsw_exact e ON e.q = g.q AND e.item_id = g.item_id GROUP BY g.ef) s")
efbest=$(pick "$best")
echo "ef_search for recall 0.95: ${ef95:-none}; for 0.99: ${ef99:-none}; within 0.005 of the best: $efbest"
psql -d $db -At -c "SELECT 'load_ivf: ' || coalesce((s->>'ann_probes') || ' probes', 'a short list of ' || (s->>'ann_shortlist') || ' over every item''s 4-bit codes', 'the exact scan') || ' of ' || (s->'ann'->>'lists') || ' lists, measured recall@10 ' || (s->>'ann_recall') FROM pgrec.embedding_stats('load_ivf') s"
# pgrec's own recall on the same 200 items: load_ivf's similar_items against its exact scan
psql -d $db -At <<'SQL'
SET pgrec.ivf_probes = -1;
CREATE TEMP TABLE ex AS SELECT q.item_id AS q, s.item_id FROM hnsw_q q, LATERAL pgrec.similar_items('load_ivf', q.item_id, 10) s;
RESET pgrec.ivf_probes;
CREATE TEMP TABLE ap AS SELECT q.item_id AS q, s.item_id FROM hnsw_q q, LATERAL pgrec.similar_items('load_ivf', q.item_id, 10) s;
SELECT 'load_ivf recall@10 on the same 200 items, against its exact scan: '
       || round((SELECT count(*) FROM ex JOIN ap USING (q, item_id))::numeric / (SELECT count(*) FROM ex), 3);
SQL
n_items=$(psql -d $db -At -c "SELECT count(*) FROM q_items")
dir=$(mktemp -d /tmp/pgrec_hnsw.XXXXXX)
chmod 777 "$dir"
cat > "$dir/hnsw.sql" <<SQL
\\set n random(1, $n_items)
SELECT count(*) FROM (SELECT item_id FROM pv ORDER BY v <=> (SELECT v FROM pv WHERE item_id = (SELECT item_id FROM q_items WHERE n = :n)) LIMIT 11) x;
SQL
for model in $pgrec_models; do
  cat > "$dir/$model.sql" <<SQL
\\set n random(1, $n_items)
SELECT count(*) FROM pgrec.similar_items('$model', (SELECT item_id FROM q_items WHERE n = :n), 10);
SQL
done
chmod 644 "$dir"/*.sql
echo "== similar items under load, $secs s per run"
printf '%-24s %8s %8s %9s %9s %9s\n' setting clients qps mean_ms p50_ms p99_ms
run() { # label script options
  for c in 1 4 16 64; do
    stats=$(pgbench_stats "$dir" $db "$dir/$2.sql" $c "$secs" "$3") || exit 1
    read -r qps mean p50 p99 <<< "$stats"
    printf '%-24s %8s %8.1f %9s %9s %9s\n' "$1" $c "$qps" "$mean" "$p50" "$p99"
  done
}
for model in $pgrec_models; do
  run "pgrec $model" $model "-c pgrec.threads=$threads"
done
if [ -n "$ef95" ]; then
  run "hnsw ef_search $ef95 (0.95)" hnsw "-c hnsw.ef_search=$ef95"
else
  run "hnsw ef_search $efbest (best)" hnsw "-c hnsw.ef_search=$efbest"
fi
if [ -n "$ef99" ] && [ "$ef99" != "$ef95" ]; then
  run "hnsw ef_search $ef99 (0.99)" hnsw "-c hnsw.ef_search=$ef99"
fi
rm -rf "$dir"
