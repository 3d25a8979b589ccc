#!/usr/bin/env bash
# Approximate search at catalog scale (issue 12), side by side in one run: pgrec's IVF index
# ("ann": "ivf") at several pgrec.ivf_probes against the exact scan of the same version, and
# pgvector's HNSW index (vendored 0.8.6) on the same item embeddings at several ef_search.
# Trains an ials model on a synthetic catalog (default 757,000 item ids x 64 factors), then
# for 200 random users and 200 random items: p50 / p99 inside the backend (clock_timestamp
# around each call, no client round trip) and recall@10 against the exact top 10.
# Usage: benches/ann_scale.sh [items] [users] [ratings]
#   (THREADS=2, PRECISION=f32 or f16, PGREC_DB=pgrec_ann, HNSW=0 skips pgvector)
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-757000}
USERS=${2:-20000}
RATINGS=${3:-3000000}
THREADS=${THREADS:-2}
PRECISION=${PRECISION:-f32}
HNSW=${HNSW:-1}
DB=${PGREC_DB:-pgrec_ann}
psql() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 "$@"; }
psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -q -d $DB -c "CREATE EXTENSION pgrec"
echo "== training ials on $RATINGS synthetic interactions, $USERS users x $ITEMS items, \"ann\": \"ivf\""
psql -q -d $DB <<SQL
SET client_min_messages = warning;
SET pgrec.threads = $THREADS;
CREATE TABLE synth AS SELECT * FROM pgrec.synthetic_ratings($USERS, $ITEMS, $RATINGS, seed => 3);
SELECT n_items, round(train_seconds::numeric, 1) AS train_seconds
FROM pgrec.train('scale', 'synth', 'ials', rating_col => NULL,
                 params => '{"epochs": 2, "factors": 64, "ann": "ivf", "serving_precision": "$PRECISION"}');
SQL
echo "== first call (builds the serving file with the index and measures its recall: DEBUG1 gives the time of each), then the index's shape"
psql -d $DB <<SQL
SET pgrec.threads = $THREADS;
SET client_min_messages = debug1;
\timing on
SELECT count(*) FROM pgrec.similar_items('scale', (SELECT min(item_id) FROM pgrec.item_embeddings('scale')), 10);
\timing off
RESET client_min_messages;
SELECT j->'ann' AS ann, j->'ann_probes' AS ann_probes, j->'ann_recall' AS measured_recall FROM pgrec.embedding_stats('scale') j;
SET pgrec.ann_recall = 0.9;
SELECT 0.9 AS session_target, j->'ann_probes' AS ann_probes, j->'ann_recall' AS measured_recall FROM pgrec.embedding_stats('scale') j;
SET pgrec.ann_recall = 0.99;
SELECT 0.99 AS session_target, j->'ann_probes' AS ann_probes, j->'ann_recall' AS measured_recall FROM pgrec.embedding_stats('scale') j;
SQL
echo "== pgrec: exact scan vs IVF probes (pgrec.threads = $THREADS, serving_precision $PRECISION)"
psql -d $DB <<'SQL'
\pset footer off
SELECT setseed(0.25);
CREATE TABLE q_users AS SELECT user_id FROM pgrec.user_embeddings('scale') ORDER BY random() LIMIT 200;
CREATE TABLE q_items AS SELECT item_id FROM pgrec.item_embeddings('scale') ORDER BY random() LIMIT 200;
CREATE TABLE lat (setting text, call text, ms float8);
CREATE TABLE got (setting text, call text, q bigint, item_id bigint);
CREATE PROCEDURE run(setting text, probes int, target float8 DEFAULT 0) LANGUAGE plpgsql AS $$
DECLARE r record; t timestamptz;
BEGIN
  PERFORM set_config('pgrec.ivf_probes', probes::text, false);
  PERFORM set_config('pgrec.ann_recall', target::text, false);
  PERFORM count(*) FROM pgrec.recommend('scale', (SELECT min(user_id) FROM q_users), 10);
  FOR r IN SELECT user_id FROM q_users LOOP
    t := clock_timestamp();
    INSERT INTO got SELECT setting, 'recommend', r.user_id, x.item_id FROM pgrec.recommend('scale', r.user_id, 10) x;
    INSERT INTO lat VALUES (setting, 'recommend', extract(epoch FROM clock_timestamp() - t) * 1000);
  END LOOP;
  FOR r IN SELECT item_id FROM q_items LOOP
    t := clock_timestamp();
    INSERT INTO got SELECT setting, 'similar_items', r.item_id, x.item_id FROM pgrec.similar_items('scale', r.item_id, 10) x;
    INSERT INTO lat VALUES (setting, 'similar_items', extract(epoch FROM clock_timestamp() - t) * 1000);
    t := clock_timestamp();
    INSERT INTO got SELECT setting, 'cosine', r.item_id, x.item_id FROM pgrec.similar_items('scale', r.item_id, 10, shrinkage => 0) x;
    INSERT INTO lat VALUES (setting, 'cosine', extract(epoch FROM clock_timestamp() - t) * 1000);
  END LOOP;
END $$;
SET pgrec.threads = 2;
CALL run('exact scan', -1);
CALL run('ivf probes 8', 8);
CALL run('ivf probes 16', 16);
CALL run('ivf probes for recall 0.9 (pgrec.ann_recall)', 0, 0.9);
CALL run('ivf probes for recall 0.95 (default ann_recall)', 0);
CALL run('ivf probes for recall 0.99 (pgrec.ann_recall)', 0, 0.99);
CALL run('ivf probes 90', 90);
CALL run('ivf probes 180', 180);
SQL
if [ "$HNSW" = 1 ]; then
  echo "== pgvector $(psql -qAt -d $DB -c "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'") HNSW (m 16, ef_construction 64) on the same item vectors"
  psql -d $DB <<'SQL'
CREATE EXTENSION vector;
CREATE TABLE pv AS SELECT item_id, embedding::vector(64) AS v FROM pgrec.item_embeddings('scale');
SET maintenance_work_mem = '4GB';
SET max_parallel_maintenance_workers = 1;
\timing on
CREATE INDEX ON pv USING hnsw (v vector_cosine_ops) WITH (m = 16, ef_construction = 64);
\timing off
ANALYZE pv;
CREATE PROCEDURE run_hnsw(setting text, ef int) LANGUAGE plpgsql AS $$
DECLARE r record; t timestamptz; qv vector;
BEGIN
  PERFORM set_config('hnsw.ef_search', ef::text, false);
  FOR r IN SELECT item_id FROM q_items LOOP
    SELECT v INTO qv FROM pv WHERE item_id = r.item_id;
    t := clock_timestamp();
    INSERT INTO got SELECT setting, 'cosine', r.item_id, x.item_id
      FROM (SELECT item_id FROM pv ORDER BY v <=> qv LIMIT 11) x WHERE x.item_id <> r.item_id;
    INSERT INTO lat VALUES (setting, 'cosine', extract(epoch FROM clock_timestamp() - t) * 1000);
  END LOOP;
END $$;
CALL run_hnsw('pgvector hnsw ef_search 40', 40);
CALL run_hnsw('pgvector hnsw ef_search 100', 100);
CALL run_hnsw('pgvector hnsw ef_search 400', 400);
SQL
fi
echo "== results (recall@10 against the exact scan of the same call; cosine = similar_items with shrinkage 0)"
psql -d $DB <<'SQL'
\pset footer off
WITH r AS (
  SELECT g.setting, g.call, count(*)::numeric / (SELECT count(*) FROM got e WHERE e.setting = 'exact scan' AND e.call = g.call) AS recall
  FROM got g JOIN got e ON e.setting = 'exact scan' AND e.call = g.call AND e.q = g.q AND e.item_id = g.item_id
  GROUP BY g.setting, g.call)
SELECT l.call, l.setting,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 3) AS p99_ms,
       round(max(r.recall), 3) AS recall_at_10
FROM lat l JOIN r USING (setting, call)
GROUP BY l.call, l.setting ORDER BY l.call, min(l.ms) IS NULL, p50_ms DESC;
SQL
psql -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
