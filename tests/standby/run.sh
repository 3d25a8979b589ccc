#!/usr/bin/env bash
# Hot standby test: a streaming replica of the running cluster (pg_basebackup to a scratch
# directory, port 5433 on a private socket directory), then
#   1. every read-only pgrec function answers on the standby as on the primary;
#   2. every function that writes fails there with 25006 and a plain message (no backtrace);
#   3. a version trained on the primary after the copy is served by the standby once replayed;
#   4. the standby's own serving files: one of a model dropped on the primary is removed there.
# Run by scripts/run_sql_tests.sh after the pg_regress suite; needs root or sudo (the cluster
# runs as postgres).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)
dir=/var/tmp/pgrec_standby
db=pgrec_standby
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
primary() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 -d $db "$@"; }
standby() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h $dir -p 5433 -d $db "$@"; }
fail() { echo "standby test FAILED: $*"; exit 1; }
cleanup() {
  as_pg "$BIN/pg_ctl" -D $dir/data -m immediate stop >/dev/null 2>&1 || true
  rm -rf $dir
}
trap cleanup EXIT
cleanup

./scripts/psql.sh -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
primary >/dev/null <<'SQL'
SET client_min_messages = error;
CREATE EXTENSION pgrec;
CREATE TABLE r AS SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
FROM generate_series(1, 60) u, generate_series(1, 30) i WHERE (u + i) % 3 <> 0;
SELECT version FROM pgrec.train('sb_mf', 'r', params => '{"factors": 4, "epochs": 3}');
SELECT version FROM pgrec.train('sb_ials', 'r', 'ials', params => '{"factors": 4, "epochs": 3, "positive_threshold": 3}');
SELECT pgrec.hide_items('sb_ials', ARRAY[1, 2]::bigint[]);
SQL

mkdir -p $dir && chown postgres: $dir 2>/dev/null || true
chmod 700 $dir
as_pg "$BIN/pg_basebackup" -h "${PGHOST:-/var/run/postgresql}" -p "${PGPORT:-5432}" -D $dir/data -R -X stream -c fast
workers=$(./scripts/psql.sh -At -d postgres -c "SHOW max_worker_processes")
as_pg tee $dir/data/postgresql.conf >/dev/null <<CONF
port = 5433
hot_standby = on
listen_addresses = ''
unix_socket_directories = '$dir'
max_worker_processes = $workers
shared_preload_libraries = ''
CONF
echo "local all all trust" | as_pg tee $dir/data/pg_hba.conf >/dev/null
as_pg touch $dir/data/pg_ident.conf
as_pg "$BIN/pg_ctl" -D $dir/data -l $dir/log -w start >/dev/null
[ "$(standby -At -c 'SELECT pg_is_in_recovery()')" = t ] || fail "the copy is not in recovery"
if [ -n "${PGREC_STANDBY_KEEP:-}" ]; then trap - EXIT; echo "standby left running on $dir port 5433"; exit 0; fi

# 1. Read-only functions: the same answers as on the primary.
reads=$(cat <<'SQL'
SELECT 'recommend', string_agg(item_id || ':' || round(score::numeric, 4), ' ' ORDER BY item_id) FROM pgrec.recommend('sb_mf', 1, 5)
UNION ALL SELECT 'similar', string_agg(item_id::text, ' ' ORDER BY item_id) FROM pgrec.similar_items('sb_mf', 2, 5)
UNION ALL SELECT 'predict', round(pgrec.predict('sb_mf', 3, 4)::numeric, 4)::text
UNION ALL SELECT 'embeddings', count(*)::text FROM pgrec.item_embeddings('sb_mf')
UNION ALL SELECT 'user_embeddings', count(*)::text FROM pgrec.user_embeddings('sb_ials')
UNION ALL SELECT 'basket', string_agg(item_id::text, ' ' ORDER BY item_id) FROM pgrec.recommend_for_items('sb_ials', ARRAY[1, 2, 3]::bigint[], 4)
UNION ALL SELECT 'evaluate', (SELECT round((e->>'rmse')::numeric, 4)::text FROM pgrec.evaluate('sb_mf', 'r') e)
UNION ALL SELECT 'evaluate_ranking', (SELECT round((e->>'precision_at_k')::numeric, 4)::text FROM pgrec.evaluate('sb_ials', 'r') e)
UNION ALL SELECT 'models', string_agg(model || ' v' || version, ' ' ORDER BY model) FROM pgrec.models
UNION ALL SELECT 'split', count(*)::text FROM pgrec.split('r', 'random', 0.2, 1)
UNION ALL SELECT 'popular', string_agg(item_id::text, ' ' ORDER BY item_id) FROM pgrec.popular('sb_ials', 6, NULL::bigint)
UNION ALL SELECT 'hidden_left_out', count(*) FILTER (WHERE item_id IN (1, 2))::text FROM pgrec.recommend('sb_ials', 1, 30)
ORDER BY 1;
SQL
)
want=$(primary -At -c "$reads" 2>&1)
got=$(standby -At -c "$reads" 2>&1) || fail "read-only functions on the standby: $got"
[ "$got" = "$want" ] || fail "the standby answered differently:
--- primary
$want
--- standby
$got"
echo "standby: $(echo "$got" | wc -l) read-only answers match the primary"

# 2. Writers: 25006, a plain message, nothing from Rust.
for call in \
  "SELECT * FROM pgrec.train('sb_new', 'r')" \
  "SELECT * FROM pgrec.retrain('sb_mf')" \
  "SELECT pgrec.activate('sb_mf', 1)" \
  "SELECT pgrec.drop_model('sb_mf')" \
  "SELECT pgrec.fold_in('sb_ials', 'r')" \
  "SELECT pgrec.grant_model('sb_mf', 'public')" \
  "SELECT pgrec.revoke_model('sb_mf', 'public')" \
  "SELECT pgrec.hide_items('sb_ials', ARRAY[3]::bigint[])" \
  "SELECT pgrec.unhide_items('sb_ials', ARRAY[1]::bigint[])"; do
  out=$(standby -c "\\set VERBOSITY verbose" -c "$call" 2>&1) && fail "$call succeeded on the standby"
  grep -q "ERROR:  25006" <<<"$out" || fail "$call: expected 25006, got: $out"
  # (LOCATION, shown only at VERBOSITY verbose, names the source line as for any C extension.)
  if echo "$out" | grep -v "^LOCATION:" | grep -Ei "backtrace|panicked|pgrx|rust|\.rs:" >/dev/null; then fail "$call: Rust internals in the message: $out"; fi
done
echo "standby: 9 writing functions refused with 25006"

# 3. A version trained on the primary reaches the standby's serving.
before=$(standby -At -c "SELECT string_agg(item_id::text, ' ') FROM pgrec.recommend('sb_mf', 1, 5)")
primary -c "SET client_min_messages = error" -c "SELECT version FROM pgrec.train('sb_mf', 'r', params => '{\"factors\": 6, \"epochs\": 5, \"seed\": 9}')" >/dev/null
lsn=$(primary -At -c "SELECT pg_current_wal_insert_lsn()")
for _ in $(seq 1 100); do
  [ "$(standby -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && break
  sleep 0.1
done
want=$(primary -At -c "SELECT string_agg(item_id || ':' || round(score::numeric, 4), ' ') FROM pgrec.recommend('sb_mf', 1, 5)")
got=$(standby -At -c "SELECT string_agg(item_id || ':' || round(score::numeric, 4), ' ') FROM pgrec.recommend('sb_mf', 1, 5)")
[ "$got" = "$want" ] || fail "after replay the standby serves '$got', the primary '$want'"
[ "$(standby -At -c "SELECT version FROM pgrec.models WHERE model = 'sb_mf' AND active")" = 2 ] || fail "version 2 is not active on the standby"
echo "standby: version 2 served after replay (was: $before)"

# 3b. Items shown again and hidden on the primary follow on the standby after replay.
hidden_check="SELECT count(*) FILTER (WHERE item_id IN (1, 2, 3)) FROM pgrec.popular('sb_ials', 30, NULL::bigint)"
primary -c "SELECT pgrec.unhide_items('sb_ials', ARRAY[1, 2]::bigint[])" >/dev/null
lsn=$(primary -At -c "SELECT pg_current_wal_insert_lsn()")
for _ in $(seq 1 100); do
  [ "$(standby -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && break
  sleep 0.1
done
shown=$(standby -At -c "$hidden_check")
[ "$shown" = 3 ] || fail "after unhide on the primary the standby shows $shown of items 1-3"
primary -c "SELECT pgrec.hide_items('sb_ials', ARRAY[1, 2, 3]::bigint[])" >/dev/null
lsn=$(primary -At -c "SELECT pg_current_wal_insert_lsn()")
for _ in $(seq 1 100); do
  [ "$(standby -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && break
  sleep 0.1
done
[ "$(standby -At -c "$hidden_check")" = 0 ] || fail "items hidden on the primary are served on the standby"
echo "standby: items hidden and shown again on the primary follow on the standby"

# 4. The standby's own serving files: a model dropped on the primary leaves the file the standby
# built for it; pgrec.serving_files shows it unused there and remove_unused_files removes it.
primary -c "SELECT pgrec.drop_model('sb_ials')" >/dev/null
lsn=$(primary -At -c "SELECT pg_current_wal_insert_lsn()")
for _ in $(seq 1 100); do
  [ "$(standby -At -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && break
  sleep 0.1
done
unused=$(standby -At -c "SELECT count(*) FROM pgrec.serving_files WHERE NOT in_use AND model IS NULL")
[ "$unused" -ge 1 ] || fail "the standby lists no unused file after the primary dropped sb_ials"
freed=$(standby -At -c "SELECT pgrec.remove_unused_files()") || fail "remove_unused_files on the standby: $freed"
[ "$freed" -gt 0 ] || fail "remove_unused_files freed nothing on the standby"
[ "$(standby -At -c "SELECT count(*) FILTER (WHERE NOT in_use) || ' ' || count(*) FILTER (WHERE in_use) FROM pgrec.serving_files")" = "0 1" ] \
  || fail "after remove_unused_files the standby lists: $(standby -At -c "SELECT * FROM pgrec.serving_files")"
[ "$(standby -At -c "SELECT string_agg(item_id || ':' || round(score::numeric, 4), ' ') FROM pgrec.recommend('sb_mf', 1, 5)")" = "$want" ] \
  || fail "the standby serves sb_mf differently after remove_unused_files"
echo "standby: the file of a model dropped on the primary is listed unused and removed on the standby ($freed bytes); sb_mf still served"
./scripts/psql.sh -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"
echo "standby test passed"
