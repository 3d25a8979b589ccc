#!/usr/bin/env bash
# Concurrency tests with pg_isolation_regress (specs/*.spec, expected/*.out): concurrent
# trainings of one name at every isolation level, serving during activate and drop. Run by
# scripts/run_sql_tests.sh after the pg_regress suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
db=pgrec_isolation
./scripts/psql.sh -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
./scripts/psql.sh -q -d $db -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pgrec;
CREATE TABLE iso_r AS SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
FROM generate_series(1, 30) u, generate_series(1, 20) i WHERE (u + i) % 3 <> 0;
SQL
out=$(mktemp -d /tmp/pgrec_isolation.XXXXXX)
chmod 777 "$out"
tests=${PGREC_ISOLATION_TESTS:-$(sed -n 's/^test: //p' tests/isolation/schedule | tr '\n' ' ')}
regress="$($PG_CONFIG --pkglibdir)/pgxs/src/test/isolation/pg_isolation_regress"
cmd="$regress --bindir=$($PG_CONFIG --bindir) --use-existing --dbname=$db --host=${PGHOST:-/var/run/postgresql} --port=${PGPORT:-5432} \
  --inputdir=$(pwd)/tests/isolation --outputdir=$out $tests"
status=0
if [ "$(id -u)" -eq 0 ]; then
  su postgres -c "$cmd" || status=$?
else
  sudo -u postgres $cmd || status=$?
fi
if [ $status -ne 0 ]; then
  cat "$out/regression.diffs" 2>/dev/null || true
  echo "isolation tests failed (outputs in $out)"
  exit $status
fi
rm -rf "$out"
./scripts/psql.sh -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
