#!/usr/bin/env bash
# Operations figures (issue 13), in a scratch database:
#   1. retrain under a read load: pgbench (4 clients, 2 threads) calls pgrec.recommend for
#      random users while the model is retrained 3 times in another session; failed reads and
#      latency are reported by pgbench;
#   2. retention on disk: the catalog's size after 5 trainings with and without keep_versions;
#   3. training time and the backend's peak memory against the estimate at 1M, 10M and 20M
#      interactions (ials, 64 factors, 5 iterations, 2 threads), for docs/scaling.md.
# Usage: benches/operations.sh [load|retention|scale]...   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."
db=pgrec_ops_bench
BIN=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 -d $db "$@"; }
parts=${*:-load retention scale}
./scripts/psql.sh -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
psql -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgrec"

if [[ " $parts " == *" load "* ]]; then
  psql >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE r4m AS SELECT * FROM pgrec.synthetic_ratings(60000, 10000, 4000000, seed => 3);
SELECT version FROM pgrec.train('served', 'r4m', params => '{"factors": 64, "epochs": 5, "keep_versions": 2}');
SQL
  script=$(mktemp /tmp/pgrec_pgbench.XXXXXX.sql)
  echo "\\set uid random(1, 60000)
SELECT count(*) FROM pgrec.recommend('served', :uid, 10);" > "$script"
  chmod 644 "$script"
  runuser -u postgres -- "$BIN/pgbench" -n -c 4 -j 2 -T 60 -f "$script" -h /var/run/postgresql $db > /tmp/pgrec_pgbench.out 2>&1 &
  bench=$!
  sleep 3
  for i in 1 2 3; do
    psql -At -c "SET client_min_messages = warning" -c "SELECT 'retrain ' || version || ': ' || round(train_seconds::numeric, 1) || ' s' FROM pgrec.retrain('served')"
  done
  wait $bench
  rm -f "$script"
  grep -E "number of (transactions actually processed|failed)|latency average|tps" /tmp/pgrec_pgbench.out
  psql -At -c "SELECT 'versions kept: ' || string_agg(version || CASE WHEN active THEN '*' ELSE '' END, ' ' ORDER BY version) FROM pgrec.models WHERE model = 'served'"
fi

if [[ " $parts " == *" retention "* ]]; then
  psql >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS r1m AS SELECT * FROM pgrec.synthetic_ratings(20000, 4000, 1000000, seed => 4);
SQL
  size() { psql -At -c "SELECT pg_total_relation_size('pgrec.user_factors') + pg_total_relation_size('pgrec.item_factors') + pg_total_relation_size('pgrec.model_versions') + pg_total_relation_size('pgrec.training_history')"; }
  clean() {
    psql -c "SET client_min_messages = warning" -c "SELECT pgrec.drop_model(model) FROM (SELECT DISTINCT model FROM pgrec.models) m" >/dev/null
    psql -c "VACUUM FULL pgrec.user_factors, pgrec.item_factors, pgrec.model_versions, pgrec.training_history" 2>/dev/null
  }
  # Five nightly runs of a 1M-rating model, with autovacuum's work done after each run (plain
  # VACUUM: freed space is reused, files do not shrink).
  for keep in none 2; do
    clean
    empty=$(size)
    params='{"factors": 64, "epochs": 2}'
    [ $keep = none ] || params="{\"factors\": 64, \"epochs\": 2, \"keep_versions\": $keep}"
    psql -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.train('kept', 'r1m', params => '$params')" >/dev/null
    for i in 1 2 3 4; do
      psql -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.retrain('kept')" >/dev/null
      psql -c "VACUUM pgrec.user_factors, pgrec.item_factors, pgrec.model_versions, pgrec.training_history" 2>/dev/null
    done
    echo "retention: 5 trainings of 1M ratings, keep_versions $keep: $(psql -At -c "SELECT count(*) FROM pgrec.models WHERE model = 'kept'") versions kept, catalog on disk $(( ($(size) - empty) / 1048576 )) MB"
  done
fi

if [[ " $parts " == *" scale "* ]]; then
  for n in 1000000 10000000 20000000; do
    psql -c "SET client_min_messages = warning" -c "DROP TABLE IF EXISTS rs" \
      -c "CREATE UNLOGGED TABLE rs AS SELECT * FROM pgrec.synthetic_ratings(greatest(1000, ($n::float8 * 138493 / 20000000)::int), greatest(500, ($n::float8 * 26744 / 20000000)::int), $n, seed => 5)"
    psql -At <<SQL
SET client_min_messages = warning;
SELECT pg_backend_pid() AS pid \gset
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024 AS base \gset
SELECT 'scale $n: ' || n_users || ' users, ' || n_items || ' items; load ' || round((metrics->>'load_seconds')::numeric, 1)
       || ' s, ' || round((metrics->>'seconds_per_epoch')::numeric, 2) || ' s per iteration, save '
       || round((metrics->>'save_seconds')::numeric, 1) || ' s, total ' || round(train_seconds::numeric, 1)
       || ' s; estimate ' || (metrics->>'memory_estimate_mb') || ' MB'
FROM pgrec.train('scale', 'rs', 'ials', rating_col => NULL, params => '{"factors": 64, "epochs": 5, "threads": 2}');
SELECT '  peak added by the training: ' || ((regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024 - :base) || ' MB';
SELECT pgrec.drop_model('scale') IS NULL;
SQL
  done
fi
./scripts/psql.sh -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
