#!/usr/bin/env bash
# SQL golden tests (pg_regress) against the running PostgreSQL 15 cluster, in a fresh database
# that has pgrec and MovieLens-100K loaded. Expected outputs include the error lines. Then the
# upgrade test (tests/upgrade/run.sh: previous release -> ALTER EXTENSION UPDATE -> same
# answers), the pg_cron test (tests/cron/run.sh: a scheduled retrain, for real), the hot
# standby test (tests/standby/run.sh), the concurrency tests (tests/isolation/run.sh,
# pg_isolation_regress), the backup test (tests/backup/run.sh: pg_dump / pg_restore /
# pg_dumpall of every algorithm into new databases and other clusters), the crash test
# (tests/crash/run.sh: SIGKILL during training, fold_in and a file build; damaged serving files;
# serving-file hygiene) and the Citus test (tests/citus/run.sh: a local three-node cluster;
# PGREC_SKIP_CITUS=1 skips it, and says so). Every tier that needs its own server settings or
# kills backends runs in a throwaway cluster of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
db=pgrec_regress
./scripts/create_db.sh "$db"
out=$(mktemp -d /tmp/pgrec_regress.XXXXXX)
chmod 777 "$out"
# PGREC_TESTS="setup ncf" runs only those tests (setup first); the default is the schedule.
tests=${PGREC_TESTS:-$(sed -e 's/#.*//' -e '/^\s*$/d' tests/pg_regress/schedule | tr '\n' ' ')}
regress="$($PG_CONFIG --pkglibdir)/pgxs/src/test/regress/pg_regress"
cmd="$regress --bindir=$($PG_CONFIG --bindir) --use-existing --dbname=$db --host=${PGHOST:-/var/run/postgresql} --port=${PGPORT:-5432} \
  --inputdir=$(pwd)/tests/pg_regress --outputdir=$out $tests"
status=0
if [ "$(id -u)" -eq 0 ]; then
  su postgres -c "$cmd" || status=$?
else
  sudo -u postgres $cmd || status=$?
fi
if [ $status -ne 0 ]; then
  cat "$out/regression.diffs" 2>/dev/null || true
  echo "SQL tests failed (outputs in $out)"
  exit $status
fi
# No user-facing message of any error path the tests run shows Rust internals (a panic's
# backtrace, pgrx frames, source locations).
if grep -nEi "panicked|backtrace|pgrx|rust_begin|\.rs:[0-9]|^ *[0-9]+: [a-z_]+::" "$out"/results/*.out; then
  echo "SQL tests failed: Rust internals in messages (above; outputs in $out)"
  exit 1
fi
rm -rf "$out"
# Upgrade from the previous release, a hot standby, concurrency, Citus (skipped when PGREC_TESTS
# picks tests).
if [ -z "${PGREC_TESTS:-}" ]; then
  ./tests/upgrade/run.sh
  # pg_cron and Citus are built for PostgreSQL 15 only here (Debian's postgresql-15-cron; Citus
  # 13.2.2 from third_party/, against 15's headers): on another major these tiers say so.
  if [ "$major" = 15 ]; then ./tests/cron/run.sh; else echo "pg_cron test: PostgreSQL 15 only (pg_cron is built for 15 here), not run on $major"; fi
  ./tests/standby/run.sh
  ./tests/isolation/run.sh
  ./tests/backup/run.sh
  ./tests/crash/run.sh
  if [ "$major" != 15 ]; then
    echo "citus test: PostgreSQL 15 only (Citus is built for 15 here), not run on $major"
  elif [ "${PGREC_SKIP_CITUS:-0}" = 1 ]; then
    echo "citus test SKIPPED (PGREC_SKIP_CITUS=1)"
  else
    ./tests/citus/run.sh
  fi
fi
