#!/usr/bin/env bash
# Serving with hidden items at catalog scale (issue 30): recommend and similar_items with 0, 1%
# and 30% of the catalog hidden (pgrec.hide_items), by the exact f32 scan and by IVF at the
# model's probes, in one run. Trains ials with "ann": "ivf" on a synthetic catalog (default
# 531,560 item ids x 64 factors); for 200 random users and 200 random items it records p50 /
# p99 inside the backend (clock_timestamp around each call), that every answer has 10 rows and
# none hidden, and the first call after each hide_items (the backend reads the hidden list again).
# Usage: benches/hidden_items.sh [items] [users] [ratings]   (THREADS=2, PGREC_DB=pgrec_hidden)
set -euo pipefail
cd "$(dirname "$0")/.."
ITEMS=${1:-531560}
USERS=${2:-20000}
RATINGS=${3:-3000000}
THREADS=${THREADS:-2}
DB=${PGREC_DB:-pgrec_hidden}
psql() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 "$@"; }
psql -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
psql -q -d $DB -c "CREATE EXTENSION pgrec"
echo "== training ials on $RATINGS synthetic interactions, $USERS users x $ITEMS items, \"ann\": \"ivf\""
psql -q -d $DB <<SQL
SET client_min_messages = warning;
SET pgrec.threads = $THREADS;
CREATE TABLE synth AS SELECT * FROM pgrec.synthetic_ratings($USERS, $ITEMS, $RATINGS, seed => 3);
SELECT n_items, round(train_seconds::numeric, 1) AS train_seconds
FROM pgrec.train('hid', 'synth', 'ials', rating_col => NULL,
                 params => '{"epochs": 2, "factors": 64, "ann": "ivf"}');
SQL
psql -d $DB <<SQL
\pset footer off
SET pgrec.threads = $THREADS;
SELECT count(*) AS first_call_rows FROM pgrec.similar_items('hid', (SELECT min(item_id) FROM pgrec.item_embeddings('hid')), 10);
SELECT setseed(0.25);
CREATE TABLE q_users AS SELECT user_id FROM pgrec.user_embeddings('hid') ORDER BY random() LIMIT 200;
CREATE TABLE q_items AS SELECT item_id FROM pgrec.item_embeddings('hid') ORDER BY random() LIMIT 200;
-- 1% and 30% of the items, the 1% inside the 30%; the query items stay visible
CREATE TABLE shares AS SELECT item_id, random() AS r FROM pgrec.item_embeddings('hid')
WHERE item_id NOT IN (SELECT item_id FROM q_items);
CREATE TABLE lat (hidden text, scan text, call text, q bigint, ms float8);
CREATE TABLE got (hidden text, scan text, call text, q bigint, item_id bigint);
CREATE TABLE reload (hidden text, ms float8);
CREATE PROCEDURE run(hidden text, share float8) LANGUAGE plpgsql AS \$\$
DECLARE r record; t timestamptz; probes int; scan text;
BEGIN
  PERFORM pgrec.unhide_items('hid', (SELECT array_agg(h.item::bigint) FROM pgrec.hidden_items h WHERE h.model = 'hid'));
  IF share > 0 THEN
    PERFORM pgrec.hide_items('hid', (SELECT array_agg(item_id) FROM shares WHERE shares.r < share));
  END IF;
  t := clock_timestamp();
  PERFORM count(*) FROM pgrec.recommend('hid', (SELECT min(user_id) FROM q_users), 10);
  INSERT INTO reload VALUES (hidden, extract(epoch FROM clock_timestamp() - t) * 1000);
  FOREACH probes IN ARRAY ARRAY[-1, 0] LOOP
    PERFORM set_config('pgrec.ivf_probes', probes::text, false);
    scan := CASE probes WHEN -1 THEN 'exact f32' ELSE 'ivf (model probes)' END;
    FOR r IN SELECT user_id FROM q_users LOOP
      t := clock_timestamp();
      INSERT INTO got SELECT hidden, scan, 'recommend', r.user_id, x.item_id FROM pgrec.recommend('hid', r.user_id, 10) x;
      INSERT INTO lat VALUES (hidden, scan, 'recommend', r.user_id, extract(epoch FROM clock_timestamp() - t) * 1000);
    END LOOP;
    FOR r IN SELECT item_id FROM q_items LOOP
      t := clock_timestamp();
      INSERT INTO got SELECT hidden, scan, 'similar_items', r.item_id, x.item_id FROM pgrec.similar_items('hid', r.item_id, 10) x;
      INSERT INTO lat VALUES (hidden, scan, 'similar_items', r.item_id, extract(epoch FROM clock_timestamp() - t) * 1000);
    END LOOP;
  END LOOP;
END \$\$;
CREATE INDEX ON shares (item_id);
SET pgrec.threads = $THREADS;
CALL run('0%', 0);
CALL run('1%', 0.01);
CALL run('30%', 0.30);
SQL
echo "== results (rows checked against the hidden set after the timed calls)"
psql -d $DB <<'SQL'
\pset footer off
WITH rows AS (
  SELECT g.hidden, g.scan, g.call, g.q, count(*) AS n,
         count(*) FILTER (WHERE s.r < CASE g.hidden WHEN '1%' THEN 0.01 WHEN '30%' THEN 0.30 ELSE 0 END) AS bad
  FROM got g LEFT JOIN shares s USING (item_id) GROUP BY 1, 2, 3, 4)
SELECT l.call, l.scan, l.hidden,
       round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l.ms)::numeric, 3) AS p50_ms,
       round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l.ms)::numeric, 3) AS p99_ms,
       bool_and(coalesce(r.n, 0) = 10) AS always_10_rows, coalesce(sum(r.bad), 0) AS hidden_returned
FROM lat l LEFT JOIN rows r USING (hidden, scan, call, q)
GROUP BY l.call, l.scan, l.hidden ORDER BY l.call, l.scan, l.hidden;
SELECT hidden, round(ms::numeric, 1) AS first_call_after_hide_ms FROM reload ORDER BY hidden;
SQL
psql -q -d postgres -c "DROP DATABASE $DB WITH (FORCE)"
