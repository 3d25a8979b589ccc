#!/usr/bin/env bash
# Backup test, in throwaway clusters (never the main one). Cluster A holds a database with one
# model of every algorithm (mf with two versions, the older one active, granted to an
# application role, users folded in; als; ials granted to PUBLIC with folded-in users; bpr; ease;
# two_tower with user and item features; ncf; a text-keyed mf; a model of a role that the other
# cluster lacks), history, tensors and a pgrec.distributed_models row. Then
#   1. pg_dump -Fc | pg_restore and pg_dump | psql into new databases of A;
#   2. pg_restore into cluster B, whose roles have other OIDs (decoy roles were created first) and
#      which lacks the owner of one model and a grantee: WARNINGs name them, nothing fails;
#   3. pg_dumpall of A into cluster C (roles created in another order);
# and each restored database must give every serving function's answers bit for bit (recommend,
# similar_items, predict, score, recommend_batch, similar_users, recommend_for_items, embeddings,
# evaluate, folded-in users), the same versions, active versions, params, history and tensors,
# grants by role name (never to the decoys), and retrain must work there.
# Run by scripts/run_sql_tests.sh; needs root or sudo (the clusters run as postgres).
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
BIN=$($PG_CONFIG --bindir)
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
root=/var/tmp/pgrec_backup
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
fail() { echo "backup test FAILED: $*"; exit 1; }
declare -A PORT=([a]=5461 [b]=5462 [c]=5463 [d]=5466)
q() { # cluster db psql-args...
  local c=$1 db=$2; shift 2
  as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h $root -p "${PORT[$c]}" -d "$db" "$@"
}
start() { # cluster
  as_pg "$BIN/initdb" -D "$root/$1" -A trust -U postgres >/dev/null
  as_pg "$BIN/pg_ctl" -D "$root/$1" -l "$root/$1.log" -w \
    -o "-p ${PORT[$1]} -k $root -c listen_addresses='' -c max_worker_processes=16" start >/dev/null
}
stop() { as_pg "$BIN/pg_ctl" -D "$root/$1" -m immediate stop >/dev/null 2>&1 || true; }
cleanup() { for c in a b c; do stop $c; done; stop18; rm -rf $root; }
stop18() { [ -z "${BIN18:-}" ] || as_pg "$BIN18/pg_ctl" -D "$root/d" -m immediate stop >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
mkdir -p $root && chown postgres: $root 2>/dev/null || true
start a

q a postgres <<'SQL'
CREATE ROLE bk_owner;
CREATE ROLE bk_app;
CREATE ROLE bk_gone_owner;
CREATE ROLE bk_gone_app;
CREATE DATABASE src;
SQL
q a src >/dev/null <<'SQL'
SET client_min_messages = error;
CREATE EXTENSION pgrec;
CREATE TABLE r AS SELECT * FROM pgrec.synthetic_ratings(300, 120, 12000, 6, 0.4, 11);
CREATE TABLE r_test AS SELECT * FROM pgrec.synthetic_ratings(300, 120, 3000, 6, 0.4, 12);
CREATE TABLE r_new AS SELECT user_id + 1000 AS user_id, item_id, rating FROM r WHERE user_id <= 6;
CREATE TABLE items (item_id bigint, genre text, price float8);
INSERT INTO items SELECT i, 'g' || (i % 5), i * 1.5 FROM generate_series(1, 120) i;
CREATE TABLE users (user_id bigint, age int);
INSERT INTO users SELECT u, 18 + u % 50 FROM generate_series(1, 300) u;
ALTER TABLE r OWNER TO bk_owner;
ALTER TABLE r_test OWNER TO bk_owner;
ALTER TABLE r_new OWNER TO bk_owner;
ALTER TABLE items OWNER TO bk_owner;
ALTER TABLE users OWNER TO bk_owner;
GRANT SELECT ON r TO bk_gone_owner;
SET ROLE bk_owner;
SELECT version FROM pgrec.train('bk_mf', 'r', params => '{"factors": 6, "epochs": 8}');
SELECT version FROM pgrec.train('bk_mf', 'r', params => '{"factors": 6, "epochs": 12, "seed": 3}');
SELECT pgrec.activate('bk_mf', 1);
SELECT pgrec.fold_in('bk_mf', 'r_new');
SELECT pgrec.grant_model('bk_mf', 'bk_app');
SELECT pgrec.grant_model('bk_mf', 'bk_gone_app');
SELECT version FROM pgrec.train('bk_als', 'r', 'als', params => '{"factors": 6, "epochs": 4}');
SELECT version FROM pgrec.train('bk_ials', 'r', 'ials', params => '{"factors": 6, "epochs": 4, "positive_threshold": 3}');
SELECT pgrec.fold_in('bk_ials', 'r_new');
SELECT pgrec.grant_model('bk_ials', 'public');
-- hidden items are data too: every answer below leaves them out, before and after a restore
SELECT pgrec.hide_items('bk_ials', ARRAY[1, 2, 3, 5, 8]::bigint[]);
SELECT version FROM pgrec.train('bk_bpr', 'r', 'bpr', rating_col => NULL, params => '{"factors": 6, "epochs": 4}');
SELECT version FROM pgrec.train('bk_ease', 'r', 'ease', rating_col => NULL);
SELECT version FROM pgrec.train('bk_tt', 'r', 'two_tower', params => '{"factors": 6, "epochs": 2, "tower_layers": [8]}',
                                user_features => 'users', item_features => 'SELECT item_id, genre, price FROM items');
SELECT version FROM pgrec.train('bk_ncf', 'r', 'ncf', params => '{"factors": 6, "epochs": 2}');
SELECT version FROM pgrec.train('bk_text', 'SELECT ''u'' || user_id AS user_id, ''i'' || item_id AS item_id, rating FROM r',
                                params => '{"factors": 4, "epochs": 4}');
RESET ROLE;
SET ROLE bk_gone_owner;
SELECT version FROM pgrec.train('bk_gone', 'r', params => '{"factors": 3, "epochs": 3}');
SELECT pgrec.grant_model('bk_gone', 'bk_app');
RESET ROLE;
-- (cluster B lacks this role: no object of the dump but its model may name it)
REVOKE SELECT ON r FROM bk_gone_owner;
-- A Citus coordinator's serving row (written here by hand: the table is plain without Citus).
INSERT INTO pgrec.distributed_models (model, owner, readers, version_id, version, info, params, serving)
SELECT 'bk_mf', 'bk_owner', '{bk_app}', id, version, '{}', params, '\x00'
FROM pgrec.model_versions WHERE model = 'bk_mf' AND active;
SQL

# Every answer of every model, one digest per model (run as a superuser: the answers, not the
# access, are compared here), and the catalog's rows that do not depend on the cluster.
answers() { # cluster db
  q "$1" "$2" -At <<'SQL'
SET client_min_messages = error;
WITH m(m, fold) AS (VALUES ('bk_mf', true), ('bk_als', true), ('bk_ials', true), ('bk_bpr', true),
                           ('bk_ease', true), ('bk_tt', false), ('bk_ncf', false), ('bk_gone', true))
SELECT m, md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT m, 'rec ' || u || ' ' || r.item_id || ' ' || r.score AS x
  FROM m, (SELECT generate_series(1, 40) UNION ALL SELECT generate_series(1001, 1006)) u(u),
       pgrec.recommend(m, u::bigint, 5) r
  UNION ALL SELECT m, 'sim ' || i || ' ' || s.item_id || ' ' || s.similarity
  FROM m, generate_series(1, 30) i, pgrec.similar_items(m, i::bigint, 5) s
  UNION ALL SELECT m, 'pred ' || u || ' ' || pgrec.predict(m, u::bigint, (u % 120 + 1)::bigint)
  FROM m, generate_series(1, 60) u
  UNION ALL SELECT m, 'score ' || s.item_id || ' ' || s.score
  FROM m, pgrec.score(m, 7::bigint, ARRAY[1, 5, 9, 33, 70]::bigint[]) s
  UNION ALL SELECT m, 'batch ' || b::text FROM m, pgrec.recommend_batch(m, ARRAY[1, 2, 3, 1001]::bigint[], 3) b
  UNION ALL SELECT m, 'simu ' || s::text FROM m, pgrec.similar_users(m, 4::bigint, 3) s
  UNION ALL SELECT m, 'popular ' || p::text FROM m, pgrec.popular(m, 8, NULL::bigint) p
  UNION ALL SELECT h.model, 'hidden ' || h.item FROM pgrec.hidden_items h
  UNION ALL SELECT m, 'basket ' || b.item_id || ' ' || b.score
  FROM m, pgrec.recommend_for_items(m, ARRAY[2, 4, 8]::bigint[], 4) b WHERE fold
  UNION ALL SELECT m, 'user ' || e::text FROM m, pgrec.user_embeddings(m) e
  UNION ALL SELECT m, 'item ' || e::text FROM m, pgrec.item_embeddings(m) e
  UNION ALL SELECT m, 'v1 ' || e::text FROM m, pgrec.user_embeddings(m, 1) e
  UNION ALL SELECT m, 'eval ' || pgrec.evaluate(m, 'r_test')::text FROM m
  UNION ALL SELECT v.model, 'version ' || v.version || ' ' || v.active || ' ' || v.algorithm || ' '
                   || v.params::text || ' ' || v.metrics::text || ' ' || v.source || ' ' || v.n_users
                   || ' ' || coalesce(v.features::text, '') || ' ' || coalesce(v.user_features, '')
                   || ' ' || coalesce(v.item_features, '') || ' ' || v.id
  FROM pgrec.model_versions v
  UNION ALL SELECT v.model, 'history ' || h.epoch || ' ' || h.train_loss || ' ' || h.metrics::text
  FROM pgrec.training_history h JOIN pgrec.model_versions v ON v.id = h.version_id
  UNION ALL SELECT v.model, 'tensor ' || t.name || ' ' || md5(t.data::text)
  FROM pgrec.model_tensors t JOIN pgrec.model_versions v ON v.id = t.version_id
) t GROUP BY m ORDER BY m;
SELECT 'text', md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'rec ' || u || ' ' || r.item_id || ' ' || r.score AS x
  FROM generate_series(1, 30) u, pgrec.recommend('bk_text', 'u' || u, 5) r
  UNION ALL SELECT 'sim ' || s.item_id || ' ' || s.similarity FROM pgrec.similar_items('bk_text', 'i3', 5) s) t;
SELECT 'distributed ' || model || ' ' || owner || ' ' || readers::text || ' ' || version FROM pgrec.distributed_models;
SELECT 'version id sequence at ' || last_value || ' ' || is_called FROM pgrec.model_versions_id_seq;
SQL
}
# Who owns and may read what, by role name, and what the application roles are served.
access() { # cluster db
  q "$1" "$2" -At <<'SQL'
SELECT 'owner ' || model || ' ' || owner_name || ' ' || (SELECT array_agg(n ORDER BY n) FROM unnest(reader_names) n)::text
       || ' ' || (owner = (SELECT oid FROM pg_roles WHERE rolname = owner_name))
       || ' ' || (SELECT bool_and(v.owner = o.owner AND v.readers = o.readers) FROM pgrec.model_versions v WHERE v.model = o.model)
FROM pgrec.model_owners o ORDER BY model;
SELECT 'grant ' || model || ' ' || owner || ' ' || grantee FROM pgrec.model_grants ORDER BY 1;
SET ROLE bk_app;
SELECT 'bk_app reads ' || string_agg(DISTINCT model, ' ' ORDER BY model) FROM pgrec.models;
SELECT 'bk_app served ' || count(*) FROM pgrec.recommend('bk_mf', 1::bigint, 3);
SQL
}

want=$(answers a src)
want_access=$(access a src)
[ "$(echo "$want" | grep -c "^bk_")" = 9 ] || fail "the source database answers for $(echo "$want" | grep -c "^bk_") models, not 9:
$want"
grep -q "grant bk_mf bk_owner bk_app" <<<"$want_access" || fail "source grants: $want_access"

as_pg "$BIN/pg_dump" -h $root -p 5461 -Fc -d src -f $root/src.dump
as_pg "$BIN/pg_dump" -h $root -p 5461 -d src -f $root/src.sql
grep -q "COPY pgrec.model_versions" $root/src.sql || fail "the plain dump has no pgrec.model_versions rows"
echo "backup: dumps of $(q a src -At -c "SELECT count(*) FROM pgrec.model_versions") versions: custom $(stat -c %s $root/src.dump) bytes, plain $(stat -c %s $root/src.sql) bytes"

# A non-superuser's dump: refused by row-level security unless asked for, and then it holds the
# models that role may read (granted to it or to PUBLIC) and nothing of the others.
q a postgres -c "ALTER ROLE bk_app LOGIN"
out=$(as_pg "$BIN/pg_dump" -h $root -p 5461 -U bk_app -n pgrec -d src 2>&1 >/dev/null) && fail "bk_app dumped the catalog without --enable-row-security"
grep -q "row-level security" <<<"$out" || fail "bk_app's dump without --enable-row-security: $out"
as_pg "$BIN/pg_dump" -h $root -p 5461 -U bk_app -n pgrec --enable-row-security -d src -f $root/app.sql
dumped=$(sed -n '/^COPY pgrec.model_owners /,/^\\\.$/p' $root/app.sql | sed '1d;$d' | cut -f1 | sort | tr '\n' ' ')
[ "$dumped" = "bk_gone bk_ials bk_mf " ] || fail "bk_app's dump holds the models: $dumped"
grep -q "bk_als\|bk_tt\|bk_ncf" $root/app.sql && fail "bk_app's dump names models it may not read"
echo "backup: a non-superuser's dump needs --enable-row-security and then holds only the models it may read ($dumped)"

check() { # label cluster db [want_access]
  local got got_access
  got=$(answers "$2" "$3")
  [ "$got" = "$want" ] || fail "$1: the answers differ from the source's:
$(diff <(echo "$want") <(echo "$got"))"
  if [ -n "${4:-}" ]; then
    got_access=$(access "$2" "$3")
    [ "$got_access" = "$4" ] || fail "$1: owners and grants differ:
$(diff <(echo "$4") <(echo "$got_access"))"
  fi
  echo "backup: $1: every answer of the $(echo "$got" | grep -c '^bk_') models, versions, history and tensors as in the source"
}
retrain() { # label cluster db
  local v
  v=$(q "$2" "$3" -At -c "SET client_min_messages = warning" -c "SET ROLE bk_owner" \
      -c "SELECT version FROM pgrec.retrain('bk_mf')") || fail "$1: retrain failed"
  [ "$v" = 3 ] || fail "$1: retrain made version $v, not 3"
  [ "$(q "$2" "$3" -At -c "SELECT count(*) FROM pgrec.recommend('bk_mf', 1::bigint, 5)")" = 5 ] \
    || fail "$1: the retrained model does not serve"
}

# 1. Custom format and plain SQL into new databases of the same cluster.
q a postgres -c "CREATE DATABASE r_custom" -c "CREATE DATABASE r_plain"
out=$(as_pg "$BIN/pg_restore" -h $root -p 5461 -d r_custom --exit-on-error $root/src.dump 2>&1) \
  || fail "pg_restore: $out"
check "pg_dump -Fc | pg_restore" a r_custom "$want_access"
out=$(q a r_plain -f $root/src.sql 2>&1 >/dev/null) || fail "psql < plain dump: $out"
[ -z "$out" ] || fail "restoring the plain dump printed: $out"
check "pg_dump | psql" a r_plain "$want_access"
retrain "pg_dump -Fc | pg_restore" a r_custom
echo "backup: retrain works in the restored database"

# 2. Another cluster: roles with other OIDs, two of them missing.
start b
q b postgres <<'SQL'
CREATE ROLE decoy1; CREATE ROLE decoy2; CREATE ROLE decoy3; CREATE ROLE decoy4; CREATE ROLE decoy5;
CREATE ROLE bk_app;
CREATE ROLE bk_owner;
CREATE DATABASE r_other;
SQL
collide=$(q b postgres -At -c "SELECT string_agg(rolname, ' ' ORDER BY oid) FROM pg_roles WHERE oid IN ($(q a postgres -At -c "SELECT string_agg(oid::text, ',') FROM pg_roles WHERE rolname LIKE 'bk_%'")) AND rolname NOT LIKE 'bk_%'")
echo "backup: in cluster B, the source's role OIDs belong to: ${collide:-no role}"
[ -n "$collide" ] || fail "no decoy role took a source role's OID: the test would not catch grants by OID"
out=$(as_pg "$BIN/pg_restore" --verbose -h $root -p 5462 -d r_other $root/src.dump 2>&1) || fail "pg_restore into cluster B: $out"
grep -q 'role "bk_gone_owner", the owner of model "bk_gone", does not exist; the model is owned by "postgres"' <<<"$out" \
  || fail "no WARNING for the missing owner: $out"
grep -q 'role "bk_gone_app", granted model "bk_mf", does not exist; the grant is left out' <<<"$out" \
  || fail "no WARNING for the missing grantee: $out"
if grep -q 'pg_restore: error' <<<"$out"; then
  fail "pg_restore into cluster B reported errors: $out"
fi
# Missing owner -> the restoring role; missing grantee -> left out; the rest by name.
want_b=$(echo "$want_access" | sed -e 's/^owner bk_gone bk_gone_owner /owner bk_gone postgres /' \
  -e 's/{bk_app,bk_gone_app}/{bk_app}/' -e '/^grant bk_mf bk_owner bk_gone_app$/d' \
  -e 's/^grant bk_gone bk_gone_owner bk_app$/grant bk_gone postgres bk_app/')
check "pg_restore into another cluster" b r_other "$want_b"
for d in decoy1 decoy2 decoy3 decoy4 decoy5; do
  n=$(q b r_other -At -c "SET ROLE $d" -c "SELECT count(*) FROM pgrec.model_owners")
  [ "$n" = 1 ] || fail "role $d reads $n models in cluster B (only the PUBLIC one is allowed)"
  denied=$(q b r_other -At -c "SET ROLE $d" -c "SELECT count(*) FROM pgrec.recommend('bk_mf', 1::bigint, 3)" 2>&1 || true)
  grep -q 'permission denied for model "bk_mf"' <<<"$denied" || fail "role $d is served bk_mf: $denied"
done
retrain "pg_restore into another cluster" b r_other
echo "backup: cluster B: owners and grants by role name, never to the roles that took their OIDs; the missing ones with a WARNING"
stop b

# 3. pg_dumpall into cluster C, whose roles are created in another order.
start c
q c postgres -c "CREATE ROLE decoy1" -c "CREATE ROLE decoy2" -c "CREATE ROLE bk_gone_app" -c "CREATE ROLE bk_app"
as_pg "$BIN/pg_dumpall" -h $root -p 5461 -f $root/all.sql
out=$(q c postgres -v ON_ERROR_STOP=0 -f $root/all.sql 2>&1 >/dev/null | grep -v 'already exists' || true)
grep -qi 'error' <<<"$out" && fail "restoring pg_dumpall reported errors: $out"
[ "$(q a postgres -At -c "SELECT string_agg(oid::text, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'bk_%'")" \
  != "$(q c postgres -At -c "SELECT string_agg(oid::text, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'bk_%'")" ] \
  || fail "cluster C gave the roles the source's OIDs: the test would not tell names from OIDs"
check "pg_dumpall into another cluster" c src "$want_access"
retrain "pg_dumpall into another cluster" c src
stop c

# 4. A new major version, as DBAs move: pg_upgrade of cluster A to PostgreSQL 18 (cluster D),
# and A's dump restored there. The serving files (under the data directory) do not travel: the
# first call rebuilds them. Only when this tier runs on an older major and PostgreSQL 18 holds
# pgrec (make install-pg18).
if [ "$major" -ge 18 ]; then
  echo "backup: pg_upgrade: this tier runs on PostgreSQL $major already (the 15 tier upgrades to 18)"
elif [ "${PGREC_SKIP_PG18:-0}" = 1 ]; then
  echo "backup: pg_upgrade to PostgreSQL 18 SKIPPED (PGREC_SKIP_PG18=1)"
else
  PG18=$(./scripts/pg18.sh pg_config)
  BIN18=$($PG18 --bindir)
  [ -f "$($PG18 --sharedir)/extension/pgrec.control" ] || fail "pgrec is not installed into PostgreSQL 18 (make install-pg18)"
  # Debian's PostgreSQL 15.20 stamps every column of every table (pgrec's or not) with an
  # attribute option pg_attver that PostgreSQL 18.6 does not know; pg_upgrade (18's pg_dump in
  # binary-upgrade mode) copies it and fails on the first table with 'unrecognized parameter
  # "pg_attver"'. The DBA's step before pg_upgrade (README, "Upgrading to PostgreSQL 18"): drop
  # that option in each database. 15's own pg_dump leaves it out, so dumps restore as they are.
  for db in $(q a postgres -At -c "SELECT datname FROM pg_database WHERE datallowconn"); do
    q a "$db" -c "UPDATE pg_attribute SET attoptions = (SELECT array_agg(o) FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%')
                  WHERE attoptions::text LIKE '%pg_attver=%'" >/dev/null
  done
  as_pg "$BIN/pg_ctl" -D $root/a -m fast -w stop >/dev/null # pg_upgrade needs a clean shutdown
  # PostgreSQL 18's initdb turns data checksums on by default; pg_upgrade needs A's setting (off)
  as_pg "$BIN18/initdb" -D $root/d -A trust -U postgres --no-data-checksums >/dev/null
  out=$(cd $root && as_pg "$BIN18/pg_upgrade" -b "$BIN" -B "$BIN18" -d $root/a -D $root/d \
    -p "${PORT[a]}" -P "${PORT[d]}" -s $root 2>&1) ||
    fail "pg_upgrade from PostgreSQL $major to 18: $out
$(find $root/d/pg_upgrade_output.d -name '*.log' -exec grep -h -B6 -A2 'error' {} + 2>/dev/null | tail -n 40)"
  [ ! -e $root/d/pgrec_serving ] || fail "serving files travelled with pg_upgrade: the test would not show them rebuilt"
  as_pg "$BIN18/pg_ctl" -D $root/d -l $root/d.log -w \
    -o "-p ${PORT[d]} -k $root -c listen_addresses='' -c max_worker_processes=16" start >/dev/null
  q18() { as_pg "$BIN18/psql" -X -q -v ON_ERROR_STOP=1 -h $root -p "${PORT[d]}" "$@"; }
  [ "$(q18 -d src -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pgrec'")" = 0.3.0 ] \
    || fail "pgrec after pg_upgrade is not at 0.3.0"
  got=$(BIN=$BIN18 answers d src)
  [ "$got" = "$want" ] || fail "pg_upgrade to PostgreSQL 18: the answers differ:
$(diff <(echo "$want") <(echo "$got"))"
  got_access=$(BIN=$BIN18 access d src)
  [ "$got_access" = "$want_access" ] || fail "pg_upgrade to PostgreSQL 18: owners and grants differ:
$(diff <(echo "$want_access") <(echo "$got_access"))"
  n=$(find $root/d/pgrec_serving -type f 2>/dev/null | wc -l)
  [ "$n" -gt 0 ] || fail "no serving file was rebuilt after pg_upgrade"
  echo "backup: pg_upgrade from PostgreSQL $major to 18: every answer of the $(echo "$got" | grep -c '^bk_') models, versions, history, tensors, owners and grants as before; $n serving files rebuilt on first use"
  BIN=$BIN18 retrain "pg_upgrade to PostgreSQL 18" d src
  q18 -d postgres -c "CREATE DATABASE r_dump15"
  out=$(as_pg "$BIN18/pg_restore" -h $root -p "${PORT[d]}" -d r_dump15 --exit-on-error $root/src.dump 2>&1) \
    || fail "pg_restore of PostgreSQL $major's dump into 18: $out"
  got=$(BIN=$BIN18 answers d r_dump15)
  [ "$got" = "$want" ] || fail "PostgreSQL $major's dump restored into 18: the answers differ:
$(diff <(echo "$want") <(echo "$got"))"
  echo "backup: PostgreSQL $major's pg_dump restored into 18: every answer of the $(echo "$got" | grep -c '^bk_') models as in the source"
fi
echo "backup test passed"
