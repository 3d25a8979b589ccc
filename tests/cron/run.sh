#!/usr/bin/env bash
# pg_cron test, for real: the cluster loads pg_cron (configured here if it is not yet: conf.d
# file and a restart), a job retrains a model every minute as its owner role, and the test
#   1. waits for the run and checks that it succeeded in cron.job_run_details;
#   2. reads the model every 0.2 s meanwhile: no read fails, the old version is served until the
#      run commits, the new one after;
#   3. checks that keep_versions held (versions 2 and 3 of 1, 2, 3 kept).
# pg_cron 1.4 schedules by the minute, so this takes up to about 70 s. Run by
# scripts/run_sql_tests.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
db=pgrec_cron
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "pg_cron test FAILED: $*"; exit 1; }

conf=/etc/postgresql/15/main/conf.d/pg_cron.conf
if ! grep -q pg_cron "$conf" 2>/dev/null; then
  cat > "$conf" <<'CONF'
# pgrec's tests and README: pg_cron runs jobs from background workers (no TCP login needed)
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
CONF
fi
if [[ "$(psql -At -d postgres -c "SHOW shared_preload_libraries")" != *pg_cron* ]]; then
  pg_ctlcluster 15 main restart
  for _ in $(seq 1 50); do psql -At -d postgres -c "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
fi

psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
psql -d postgres <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_cron;
SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = 'pgrec_test_retrain';
DROP ROLE IF EXISTS pgrec_cron_owner;
CREATE ROLE pgrec_cron_owner LOGIN;
SQL
psql -d $db >/dev/null <<'SQL'
SET client_min_messages = error;
CREATE EXTENSION pgrec;
CREATE TABLE r AS SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
FROM generate_series(1, 300) u, generate_series(1, 100) i WHERE (u + i) % 3 <> 0;
ALTER TABLE r OWNER TO pgrec_cron_owner;
SET ROLE pgrec_cron_owner;
SELECT version FROM pgrec.train('m', 'r', params => '{"factors": 8, "epochs": 20, "keep_versions": 2}');
SELECT version FROM pgrec.retrain('m');
SQL
# The job runs in this database as the owner role: the README's recipe.
psql -d postgres -c "SELECT cron.schedule_in_database('pgrec_test_retrain', '* * * * *', \$\$SELECT version FROM pgrec.retrain('m')\$\$, '$db', 'pgrec_cron_owner')" >/dev/null
jobid=$(psql -At -d postgres -c "SELECT jobid FROM cron.job WHERE jobname = 'pgrec_test_retrain'")
reads=0; failed=0; seen=""
# One read as the application does it: the served version and 5 recommendations.
read_model() {
  local v
  if v=$(psql -At -d $db -c "SET ROLE pgrec_cron_owner" -c "SELECT (SELECT version FROM pgrec.models WHERE model = 'm' AND active) || ':' || count(*) FROM pgrec.recommend('m', 1, 5)" 2>&1); then
    reads=$((reads + 1))
    case "$v" in *:5) ;; *) fail "a read returned '$v'";; esac
    [ "${seen##* }" = "${v%%:*}" ] || seen="$seen ${v%%:*}"
  else
    failed=$((failed + 1)); echo "failed read: $v"
  fi
}
deadline=$((SECONDS + 150))
status=""
while [ $SECONDS -lt $deadline ]; do
  read_model
  status=$(psql -At -d postgres -c "SELECT status FROM cron.job_run_details WHERE jobid = $jobid AND status NOT IN ('starting', 'running') ORDER BY runid LIMIT 1")
  [ -n "$status" ] && break
  sleep 0.2
done
read_model
psql -d postgres -c "SELECT cron.unschedule($jobid)" >/dev/null
[ -n "$status" ] || fail "the job did not run within 150 s"
details=$(psql -At -d postgres -c "SELECT status || ' / ' || return_message FROM cron.job_run_details WHERE jobid = $jobid ORDER BY runid LIMIT 1")
[ "$status" = succeeded ] || fail "the job's run: $details"
final=$(psql -At -d $db -c "SELECT string_agg(version || CASE WHEN active THEN '*' ELSE '' END, ' ' ORDER BY version) FROM pgrec.model_versions WHERE model = 'm'")
echo "pg_cron: run $details; $reads reads during the wait, $failed failed; versions served:$seen; kept: $final"
[ "$failed" = 0 ] || fail "$failed reads failed"
[ "$seen" = " 2 3" ] || fail "served versions went$seen (want 2 then 3)"
[ "$final" = "2 3*" ] || fail "kept versions are '$final' (want 2 and 3, 3 active)"
psql -d postgres -c "DROP DATABASE $db WITH (FORCE)"
echo "pg_cron test passed"
