#!/usr/bin/env bash
# Cost of model access control on serving, side by side in one run (release build installed).
# recommend() on a MovieLens-100K mf model, warm backend, pgbench -M prepared, one client, as
#   - a superuser (row-level security bypassed),
#   - the owner role, a role granted the model, a role reading it through a PUBLIC grant,
# each twice: with the access policies (this version) and with every read policy replaced by
# USING (true), which is the read path of pgrec before models became private (same lookups, a
# trivial policy). The catalog holds MODELS extra models of other owners (default 200) so the
# policies are measured on a catalog that is not empty.
# Usage: benches/access_latency.sh [seconds per measurement, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
extra=${MODELS:-200}
db=pgrec_access_bench
psql() { ./scripts/psql.sh "$@"; }
./scripts/create_db.sh "$db"
out=$(mktemp -d /tmp/pgrec_access.XXXXXX); chmod 777 "$out"
psql -d "$db" -q -v ON_ERROR_STOP=1 <<SQL >/dev/null
SET client_min_messages = warning;
DO \$\$ BEGIN
  CREATE ROLE bench_owner; CREATE ROLE bench_reader; CREATE ROLE bench_public; CREATE ROLE bench_other;
EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
GRANT USAGE ON SCHEMA ml100k TO bench_owner, bench_other;
GRANT SELECT ON ml100k.u1_base, ml100k.ratings TO bench_owner, bench_other;
SET ROLE bench_owner;
SELECT version FROM pgrec.train('bench_private', 'ml100k.u1_base');
SELECT pgrec.grant_model('bench_private', 'bench_reader');
SELECT version FROM pgrec.train('bench_shared', 'ml100k.u1_base');
SELECT pgrec.grant_model('bench_shared', 'PUBLIC');
SET ROLE bench_other;
SELECT count(*) FROM (SELECT pgrec.train('other_' || g, 'SELECT user_id, item_id, rating FROM ml100k.ratings WHERE user_id <= 20',
                                         params => '{"factors": 2, "epochs": 1}')
                      FROM generate_series(1, $extra) g) t;
RESET ROLE;
SQL
cat > "$out/private.sql" <<'SQL'
\set uid random(1, 943)
SELECT * FROM pgrec.recommend('bench_private', :uid::bigint, 10);
SQL
cat > "$out/shared.sql" <<'SQL'
\set uid random(1, 943)
SELECT * FROM pgrec.recommend('bench_shared', :uid::bigint, 10);
SQL
chmod 644 "$out"/*.sql

measure() { # label role script
  local label=$1 role=$2 script=$3 opts=""
  [ "$role" != postgres ] && opts="-c role=$role"
  rm -f "$out"/lat.*
  su postgres -c "cd $out && PGOPTIONS='$opts' pgbench -n -M prepared -c 1 -T $secs -l --log-prefix=lat -f $out/$script.sql $db" >/dev/null 2>&1
  cat "$out"/lat.* | awk '{print $3}' | sort -n | awk -v name="$label" '
    {v[NR]=$1} END {printf "  %-34s calls %6d  p50 %.3f ms  p99 %.3f ms\n", name, NR, v[int(NR*0.5)]/1000, v[int(NR*0.99)]/1000}'
}
# The access policies as installed, saved once so that they can be put back after "open".
psql -d "$db" -q -v ON_ERROR_STOP=1 -c "CREATE TABLE bench_policies AS SELECT tablename, qual
  FROM pg_policies WHERE schemaname = 'pgrec' AND policyname = 'readable'" >/dev/null
policies() { # mode: open | private
  psql -d "$db" -q -v ON_ERROR_STOP=1 -v mode="$1" <<'SQL' >/dev/null
SET bench.mode = :'mode';
DO $$ DECLARE p record; BEGIN
  FOR p IN SELECT * FROM bench_policies LOOP
    EXECUTE format('ALTER POLICY readable ON pgrec.%I USING (%s)', p.tablename,
                   CASE WHEN current_setting('bench.mode') = 'open' THEN 'true' ELSE p.qual END);
  END LOOP;
END $$;
SQL
}
echo "== recommend() latency, MovieLens-100K mf (943 users x 1,682 items), $secs s each, $extra other models in the catalog"
for round in 1 2; do
  for mode in open private; do
    policies $mode
    if [ $mode = open ]; then echo "read policies USING (true) (before: every model readable), round $round"
    else echo "access policies (models private until granted), round $round"; fi
    measure "superuser" postgres private
    measure "owner role" bench_owner private
    measure "granted role" bench_reader private
    measure "PUBLIC grant" bench_public shared
  done
done
policies private
rm -rf "$out"
