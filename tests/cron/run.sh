#!/usr/bin/env bash
# pg_cron test, for real, in a throwaway cluster of its own (tests/lib/scratch_cluster.sh: initdb
# under /var/tmp/pgrec_cron, port 5434 on a private socket directory, pg_cron preloaded with jobs
# run from background workers), so the user's cluster is neither reconfigured nor restarted.
# A job retrains a model every minute as its owner role, and the test
#   1. waits for the run and checks that it succeeded in cron.job_run_details;
#   2. reads the model every 0.2 s meanwhile: no read fails, the old version is served until the
#      run commits, the new one after;
#   3. checks that keep_versions held (versions 2 and 3 of 1, 2, 3 kept).
# pg_cron 1.4 schedules by the minute, so this takes up to about 70 s. Run by
# scripts/run_sql_tests.sh; needs root or sudo (the cluster runs as postgres), pgrec and pg_cron
# installed. The cluster and its directory are removed on exit, and cleaned first if an earlier
# run left them behind.
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib/scratch_cluster.sh
dir=/var/tmp/pgrec_cron
port=${PGREC_CRON_PORT:-5434}
db=pgrec_cron
psql() { as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }
fail() {
  echo "pg_cron test FAILED: $*"
  echo "--- last lines of the test cluster's log ($dir/log)"
  as_pg tail -n 30 "$dir/log" 2>/dev/null || true
  exit 1
}
trap 'scratch_stop "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Older versions of this test wrote this file into the main cluster and restarted it. It is not
# needed any more; it may have been kept on purpose, so it is only pointed out, never removed.
old=/etc/postgresql/15/main/conf.d/pg_cron.conf
if grep -qs "pgrec's tests" "$old"; then
  echo "pg_cron test: note: $old was written by an older version of this test (it preloads" \
    "pg_cron in the main cluster); the test no longer uses it: remove it and restart the cluster" \
    "if you do not want pg_cron there"
fi

scratch_start "$dir" "$port" <<'CONF'
# pg_cron runs jobs from background workers (no TCP login needed), as README's recipe says
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
CONF
[ "$(psql -At -d postgres -c "SHOW shared_preload_libraries")" = pg_cron ] || fail "pg_cron is not preloaded"

psql -d postgres -c "CREATE DATABASE $db"
psql -d postgres <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
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
echo "pg_cron test passed ($SECONDS s, in a throwaway cluster on port $port; the main cluster is not used)"
