#!/usr/bin/env bash
# Citus test (issue 15): a coordinator and two workers on this machine (tests/citus/cluster.sh),
# MovieLens-100K distributed by user_id into 32 shards, then
#   1. pgrec.train reads distributed sources through the coordinator: a distributed table, a view
#      over it, and a query joining it to a reference table; each reads the rows of the local
#      table and reaches its held-out accuracy;
#   2. item features from a reference table (two_tower);
#   3. the read rate through the coordinator against a local table, at 1M rows;
#   4. pgrec.distribute_model: a LATERAL recommend over the distributed users runs on the workers
#      and returns the coordinator's rows; each worker serves only roles granted the model;
#      retrain, activate and drop are seen on every node;
#   5. a restore of the coordinator's pgrec catalog into a new database serves on every node
#      again after one step (pgrec.distribute_model for each restored row).
# Run by scripts/run_sql_tests.sh; PGREC_SKIP_CITUS=1 skips it (said so in the output).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${CITUS_DIR:-/var/tmp/pgrec_citus}
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
coord() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p 5441 -d pgrec_citus "$@"; }
fail() { echo "citus test FAILED: $*"; exit 1; }
trap 'tests/citus/cluster.sh stop' EXIT
tests/citus/cluster.sh start
data=$(pwd)/data/ml-100k
chmod o+rx "$(pwd)" "$(pwd)/data" "$data" 2>/dev/null || true

coord >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE ratings (user_id bigint, item_id bigint, rating real, ts bigint);
COPY ratings FROM '$data/ml-100k.inter' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01');
CREATE TABLE local_ratings AS SELECT * FROM ratings;
SELECT create_distributed_table('ratings', 'user_id', shard_count => 32);
SELECT truncate_local_data_after_distributing_table('ratings');
CREATE TABLE movies (item_id bigint PRIMARY KEY, genre text);
INSERT INTO movies SELECT DISTINCT item_id, 'g' || (item_id % 7) FROM local_ratings;
SELECT create_reference_table('movies');
CREATE VIEW ratings_view AS SELECT user_id, item_id, rating FROM ratings WHERE rating IS NOT NULL;
SQL
[ "$(coord -At -c "SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'ratings'::regclass")" = 32 ] ||
  fail "ratings is not distributed into 32 shards"
[ "$(coord -At -c "SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement p JOIN pg_dist_shard s USING (shardid) WHERE logicalrelid = 'ratings'::regclass")" = 2 ] ||
  fail "the shards are not on both workers"

# 1. Distributed sources train what the same rows in a local table train, bit for bit: the rows
# reach pgrec in an order Citus does not keep stable, and pgrec numbers users and items in key
# order, whatever order the rows come in.
params='{"factors": 16, "epochs": 20}'
coord >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE test_rows AS SELECT user_id, item_id, rating FROM local_ratings WHERE (user_id * 7 + item_id) % 10 = 0;
SELECT version FROM pgrec.train('local_mf', 'SELECT user_id, item_id, rating FROM local_ratings WHERE (user_id * 7 + item_id) % 10 <> 0', params => '$params');
SELECT version FROM pgrec.train('dist_mf', 'SELECT user_id, item_id, rating FROM ratings WHERE (user_id * 7 + item_id) % 10 <> 0', params => '$params');
SELECT version FROM pgrec.train('view_mf', 'SELECT * FROM ratings_view WHERE (user_id * 7 + item_id) % 10 <> 0', params => '$params');
SELECT version FROM pgrec.train('join_mf', 'SELECT r.user_id, r.item_id, r.rating FROM ratings r JOIN movies m USING (item_id) WHERE m.genre IS NOT NULL AND (r.user_id * 7 + r.item_id) % 10 <> 0', params => '$params');
SQL
rows=$(coord -At -c "SELECT n_interactions FROM pgrec.models WHERE model = 'local_mf'")
local_rmse=$(coord -At -c "SELECT round((pgrec.evaluate('local_mf', 'test_rows')->>'rmse')::numeric, 4)")
digest() {
  coord -At -c "SELECT (SELECT md5(string_agg(item_id || ':' || bias || ':' || embedding::text, '|' ORDER BY item_id)) FROM pgrec.item_embeddings('$1'))
                    || (SELECT md5(string_agg(user_id || ':' || bias || ':' || embedding::text, '|' ORDER BY user_id)) FROM pgrec.user_embeddings('$1'))"
}
local_digest=$(digest local_mf)
for m in dist_mf view_mf join_mf; do
  got=$(coord -At -c "SELECT n_interactions FROM pgrec.models WHERE model = '$m'")
  [ "$got" = "$rows" ] || fail "$m read $got rows, the local table $rows"
  [ "$(digest $m)" = "$local_digest" ] || fail "$m is not the local table's model"
  r=$(coord -At -c "SELECT round((pgrec.evaluate('$m', 'test_rows')->>'rmse')::numeric, 4)")
  echo "citus: $m read $got rows and is the local table's model, bit for bit (held-out RMSE $r)"
done
[ "$(coord -At -c "SELECT count(*) FROM pgrec.recommend('dist_mf', 1, 5)")" = 5 ] || fail "recommend on the coordinator"

# 2. Item features from a reference table and from a distributed table.
coord >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE movies_dist AS SELECT * FROM movies;
SELECT create_distributed_table('movies_dist', 'item_id', shard_count => 8);
SELECT truncate_local_data_after_distributing_table('movies_dist');
SQL
for f in movies movies_dist; do
  coord -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.train('dist_tt', 'ratings', 'two_tower', item_features => '$f', params => '{\"epochs\": 2}')" >/dev/null
  [ "$(coord -At -c "SELECT count(*) FROM pgrec.recommend('dist_tt', 1, 5)")" = 5 ] || fail "two_tower with features from $f"
  [ "$(coord -At -c "SELECT (metrics->'features'->'item'->>'n_columns')::int > 0 OR features IS NOT NULL FROM pgrec.model_versions WHERE model = 'dist_tt' AND active")" = t ] || fail "no item features recorded from $f"
done
echo "citus: two_tower trains on the distributed table with item features from a reference table and from a distributed table"

# 3. Read rate through the coordinator against a local table (1M synthetic rows).
coord >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE big_local AS SELECT * FROM pgrec.synthetic_ratings(20000, 5000, 1000000, seed => 3);
CREATE TABLE big_dist AS SELECT * FROM big_local;
SELECT create_distributed_table('big_dist', 'user_id', shard_count => 32);
SELECT truncate_local_data_after_distributing_table('big_dist');
SQL
rate() {
  coord -At -c "SET client_min_messages = warning" -c "SELECT round(n_interactions / (metrics->>'load_seconds')::numeric / 1e6, 2) || ' M rows/s (' || round((metrics->>'load_seconds')::numeric, 2) || ' s)' FROM pgrec.train('$1', '$2', params => '{\"epochs\": 1, \"factors\": 8}')"
}
echo "citus: reading 1,000,000 rows for training: local table $(rate rate_local big_local), distributed table (2 workers, 32 shards) $(rate rate_dist big_dist)"
# 4. Serving inside distributed queries: pgrec.distribute_model, as the model's owner.
worker() { as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p 5442 -d pgrec_citus "$@"; }
coord >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
GRANT SELECT ON ratings, local_ratings TO alice, bob;
SQL
as_alice() { coord -c "SET ROLE alice" "$@"; }
as_alice -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.train('srv_mf', 'ratings', params => '{\"factors\": 16, \"epochs\": 5}')" >/dev/null
# The first call makes pgrec.distributed_models a reference table (as the extension's owner).
as_alice -c "SELECT pgrec.distribute_model('srv_mf')" >/dev/null
[ "$(coord -At -c "SELECT partmethod FROM pg_dist_partition WHERE logicalrelid = 'pgrec.distributed_models'::regclass")" = n ] ||
  fail "distribute_model did not make pgrec.distributed_models a reference table"
# Every node trusts that table's rows: no role writes them directly, on any node, not even for
# a name nobody distributed (name squatting) or on a worker's copy (its shard).
shard=$(worker -At -c "SELECT shard_name('pgrec.distributed_models'::regclass, shardid) FROM pg_dist_shard WHERE logicalrelid = 'pgrec.distributed_models'::regclass")
plant="(model, owner, readers, version_id, version, info, params, serving) VALUES ('squat_mf', 'bob', '{public}', 1, 1, '{}', '{}', '\\x00')"
for target in "coordinator pgrec.distributed_models" "5442 pgrec.distributed_models" "5443 $shard"; do
  read -r node table <<<"$target"
  if [ "$node" = coordinator ]; then
    out=$(coord -c "SET ROLE bob" -c "INSERT INTO $table $plant" 2>&1) && fail "bob planted a row on the coordinator"
  else
    out=$(as_pg psql -X -h "$dir" -p "$node" -U bob -d pgrec_citus -c "INSERT INTO $table $plant" 2>&1) &&
      fail "bob planted a row into $table on $node"
  fi
  grep -q "permission denied for table" <<<"$out" || fail "bob's row into $table on $node: $out"
done
out=$(as_pg psql -X -h "$dir" -p 5442 -U alice -d pgrec_citus -c "UPDATE pgrec.distributed_models SET readers = '{public}'" 2>&1) &&
  fail "alice updated her distributed row directly: $out"

[ "$(coord -At -c "SELECT count(*) FROM pgrec.distributed_models WHERE model = 'squat_mf'")" = 0 ] || fail "a squatted row exists"
echo "citus: no role writes pgrec.distributed_models directly (bob's row for an undistributed name refused on the coordinator, on a worker and in a worker's shard; alice's update refused)"
lateral="SELECT string_agg(r.user_id || ':' || x.item_id || ':' || round(x.score::numeric, 4), ' ' ORDER BY r.user_id, x.score DESC, x.item_id)
         FROM (SELECT DISTINCT user_id FROM ratings WHERE user_id <= 40) r, LATERAL pgrec.recommend('srv_mf', r.user_id, 3) x"
on_coordinator="CREATE TEMP TABLE u AS SELECT DISTINCT user_id FROM local_ratings WHERE user_id <= 40;
  SELECT string_agg(r.user_id || ':' || x.item_id || ':' || round(x.score::numeric, 4), ' ' ORDER BY r.user_id, x.score DESC, x.item_id)
  FROM u r, LATERAL pgrec.recommend('srv_mf', r.user_id, 3) x"
coord -c "SET ROLE alice" -c "EXPLAIN (COSTS OFF, VERBOSE) $lateral" | grep "Task Count: 32" >/dev/null ||
  fail "the LATERAL recommend is not pushed to the workers"
check_same() {
  local got want
  got=$(as_alice -At -c "$lateral") || fail "$1: the distributed LATERAL recommend failed: $got"
  want=$(as_alice -At -c "$on_coordinator" | tail -1)
  [ -n "$got" ] && [ "$got" = "$want" ] || fail "$1: on the workers $got, on the coordinator $want"
}
check_same "version 1"
echo "citus: a LATERAL recommend over the distributed users runs on both workers (32 tasks) and returns the coordinator's rows (40 users x 3)"
# Both workers serve the version the coordinator serves, and only to roles the model is granted to.
direct="SELECT string_agg(item_id::text, ' ' ORDER BY score DESC, item_id) FROM pgrec.recommend('srv_mf', 7, 5)"
want=$(as_alice -At -c "$direct")
others="SELECT (SELECT string_agg(item_id::text, ' ' ORDER BY similarity DESC, item_id) FROM pgrec.similar_items('srv_mf', 50, 5))
          || ' / ' || round(pgrec.predict('srv_mf', 7, 50)::numeric, 4)"
want_others=$(as_alice -At -c "$others")
got_others=$(as_pg psql -X -At -h "$dir" -p 5443 -U alice -d pgrec_citus -c "$others") || fail "similar_items / predict on a worker: $got_others"
[ "$got_others" = "$want_others" ] || fail "similar_items / predict on a worker: $got_others, the coordinator $want_others"
basket="SELECT string_agg(item_id || ':' || round(score::numeric, 4), ' ' ORDER BY score DESC, item_id) FROM pgrec.recommend_for_items('srv_mf', ARRAY[50, 100, 181], 5)
  UNION ALL SELECT string_agg(item_id || ':' || round(score::numeric, 4), ' ' ORDER BY score DESC, item_id) FROM pgrec.score('srv_mf', 7, ARRAY[1, 50, 100, 181])
  UNION ALL SELECT string_agg(user_id || ':' || item_id, ' ' ORDER BY user_id, rank) FROM pgrec.recommend_batch('srv_mf', ARRAY[1, 7, 42], 4)
  UNION ALL SELECT string_agg(user_id::text, ' ' ORDER BY similarity DESC, user_id) FROM pgrec.similar_users('srv_mf', 7, 5)
  UNION ALL SELECT string_agg(item_id::text, ' ' ORDER BY similarity DESC, item_id) FROM pgrec.similar_items('srv_mf', 50, 5, method => 'cooccurrence')"
want_basket=$(as_alice -At -c "$basket")
got_basket=$(as_pg psql -X -At -h "$dir" -p 5443 -U alice -d pgrec_citus -c "$basket") || fail "recommend_for_items on a worker: $got_basket"
[ -n "$want_basket" ] && [ "$got_basket" = "$want_basket" ] || fail "recommend_for_items on a worker: $got_basket, the coordinator $want_basket"
# vbmf folds a basket in with the priors it learned (stored as tensors; a worker reads them from
# the distributed row).
as_alice -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.train('srv_vb', 'ratings', 'vbmf', params => '{\"factors\": 8, \"epochs\": 5}')" >/dev/null
as_alice -c "SELECT pgrec.distribute_model('srv_vb')" >/dev/null
vb_basket="SELECT string_agg(item_id || ':' || round(score::numeric, 4), ' ' ORDER BY score DESC, item_id) FROM pgrec.recommend_for_items('srv_vb', ARRAY[50, 100, 181], 5)"
want_vb=$(as_alice -At -c "$vb_basket")
got_vb=$(as_pg psql -X -At -h "$dir" -p 5443 -U alice -d pgrec_citus -c "$vb_basket") || fail "vbmf recommend_for_items on a worker: $got_vb"
[ -n "$want_vb" ] && [ "$got_vb" = "$want_vb" ] || fail "vbmf recommend_for_items on a worker: $got_vb, the coordinator $want_vb"
# What a worker cannot answer is an error that says so, never an empty result.
out=$(as_pg psql -X -At -v VERBOSITY=verbose -h "$dir" -p 5443 -U alice -d pgrec_citus -c "SELECT count(*) FROM pgrec.item_embeddings('srv_mf')" 2>&1) &&
  fail "item_embeddings on a worker answered: $out"
grep -q 'ERROR:  0A000: the embeddings of model "srv_mf" are not on this node' <<<"$out" || fail "item_embeddings on a worker: $out"
for p in 5442 5443; do
  got=$(as_pg psql -X -At -h "$dir" -p $p -U alice -d pgrec_citus -c "$direct") || fail "alice on worker $p: $got"
  [ "$got" = "$want" ] || fail "worker $p serves $got, the coordinator $want"
  out=$(as_pg psql -X -At -h "$dir" -p $p -U bob -d pgrec_citus -c "$direct" 2>&1) && fail "bob (no grant) was served on worker $p: $out"
  grep -q 'ERROR:  model "srv_mf" does not exist' <<<"$out" || fail "bob on worker $p: $out"
  if grep -Eiq "backtrace|panicked|pgrx|rust|\.rs:|_10[0-9]{4}" <<<"$out"; then fail "bob on worker $p: internals in the message: $out"; fi
done
out=$(coord -At -c "SET ROLE bob" -c "$lateral" 2>&1) && fail "bob (no grant) ran the distributed LATERAL: $out"
as_alice -c "SELECT pgrec.grant_model('srv_mf', 'bob')" >/dev/null
[ "$(as_pg psql -X -At -h "$dir" -p 5443 -U bob -d pgrec_citus -c "$direct")" = "$want" ] || fail "bob after the grant"
# A grantee cannot republish the model under a name of its own: with an = operator of bob's
# first on his search_path, what distribute_model reads is still his own model's active version.
coord -q -c "SET client_min_messages = warning" -c "CREATE SCHEMA bob_tricks AUTHORIZATION bob" >/dev/null
coord -q -c "SET ROLE bob" -c "SET client_min_messages = warning" \
  -c "SELECT version FROM pgrec.train('bob_mf', 'ratings', params => '{\"factors\": 4, \"epochs\": 1}')" \
  -c "CREATE FUNCTION bob_tricks.text_eq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true'" \
  -c "CREATE OPERATOR bob_tricks.= (LEFTARG = text, RIGHTARG = text, FUNCTION = bob_tricks.text_eq)" >/dev/null
coord -q -c "SET ROLE bob" -c "SET search_path = bob_tricks, pg_catalog, public" -c "SELECT pgrec.distribute_model('bob_mf')" >/dev/null
[ "$(coord -At -c "SELECT d.version_id = v.id FROM pgrec.distributed_models d JOIN pgrec.model_versions v ON v.model = d.model AND v.active WHERE d.model = 'bob_mf'")" = t ] ||
  fail "bob's distributed row does not hold bob_mf's active version"
coord -q -c "SET ROLE bob" -c "SELECT pgrec.drop_model('bob_mf')" >/dev/null
as_alice -c "SELECT pgrec.revoke_model('srv_mf', 'bob')" >/dev/null
as_pg psql -X -At -h "$dir" -p 5443 -U bob -d pgrec_citus -c "$direct" >/dev/null 2>&1 && fail "bob served after the revoke"
echo "citus: both workers serve alice's model to alice as the coordinator does (recommend, similar_items by both methods, predict, recommend_for_items of mf and vbmf, score, recommend_batch, similar_users; item_embeddings refused with 0A000); bob is refused on every node until granted, and again after the revoke"
# A model whose scores come from a network (ncf): its layers travel with the row, exactly even
# when the session prints floats with one digit.
as_alice -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.train('srv_ncf', 'ratings', 'ncf', params => '{\"factors\": 8, \"epochs\": 2}')" >/dev/null
as_alice -c "SET extra_float_digits = -15" -c "SELECT pgrec.distribute_model('srv_ncf')" >/dev/null
ncf="SELECT string_agg(item_id || ':' || round(score::numeric, 5), ' ' ORDER BY score DESC, item_id) FROM pgrec.recommend('srv_ncf', 7, 5)
     UNION ALL SELECT round(pgrec.predict('srv_ncf', 7, 50)::numeric, 5)::text"
want_ncf=$(as_alice -At -c "$ncf")
got_ncf=$(as_pg psql -X -At -h "$dir" -p 5442 -U alice -d pgrec_citus -c "$ncf") || fail "ncf on a worker: $got_ncf"
[ -n "$want_ncf" ] && [ "$got_ncf" = "$want_ncf" ] || fail "ncf on worker 5442: $got_ncf, the coordinator $want_ncf"
echo "citus: an ncf model is served on a worker as on the coordinator (its network's layers in the distributed row)"
# Hidden items travel with the model's row: alice hides the coordinator's top 3 for user 7, and
# both workers leave them out of recommend and popular as the coordinator does, then serve them
# again after unhide_items.
top3=$(as_alice -At -c "SELECT string_agg(item_id::text, ',') FROM pgrec.recommend('srv_mf', 7, 3)")
as_alice -c "SELECT pgrec.hide_items('srv_mf', ARRAY[$top3]::bigint[])" >/dev/null
hidden_q="SELECT string_agg(item_id::text, ' ' ORDER BY score DESC, item_id) FROM pgrec.recommend('srv_mf', 7, 5)
  UNION ALL SELECT string_agg(item_id::text, ' ' ORDER BY score DESC, item_id) FROM pgrec.popular('srv_mf', 5, NULL::bigint)
  UNION ALL SELECT count(*)::text FROM pgrec.recommend('srv_mf', 7, 20) WHERE item_id IN ($top3)"
want_h=$(as_alice -At -c "$hidden_q")
[ "$(tail -1 <<<"$want_h")" = 0 ] || fail "the coordinator returned a hidden item: $want_h"
for p in 5442 5443; do
  got_h=$(as_pg psql -X -At -h "$dir" -p $p -U alice -d pgrec_citus -c "$hidden_q") || fail "hidden items on worker $p: $got_h"
  [ "$got_h" = "$want_h" ] || fail "hidden items on worker $p: $got_h, the coordinator $want_h"
done
as_alice -c "SELECT pgrec.unhide_items('srv_mf', ARRAY[$top3]::bigint[])" >/dev/null
[ "$(as_pg psql -X -At -h "$dir" -p 5442 -U alice -d pgrec_citus -c "$direct")" = "$want" ] || fail "worker 5442 after unhide_items"
echo "citus: items hidden on the coordinator are left out on both workers (recommend, popular) and come back after unhide_items"
# A retrain and an activate are seen on every node when they commit.
as_alice -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.retrain('srv_mf')" >/dev/null
check_same "after retrain"
v=$(as_pg psql -X -At -h "$dir" -p 5443 -U alice -d pgrec_citus -c "SELECT version FROM pgrec.distributed_models WHERE model = 'srv_mf'")
[ "$v" = 2 ] || fail "worker 5443 holds version $v after the retrain"
as_alice -c "SELECT pgrec.activate('srv_mf', 1)" >/dev/null
check_same "after activate 1"
[ "$(as_pg psql -X -At -h "$dir" -p 5442 -U alice -d pgrec_citus -c "$direct")" = "$want" ] || fail "worker 5442 after activate 1"
as_alice -c "SELECT pgrec.drop_model('srv_mf')" >/dev/null
as_pg psql -X -At -h "$dir" -p 5442 -U alice -d pgrec_citus -c "$direct" >/dev/null 2>&1 && fail "a dropped model is still served on a worker"
echo "citus: retrain (version 2), activate (back to 1) and drop_model are seen on the workers in the same transaction"
# 5. A restore. The coordinator's pgrec catalog (pg_dump -e pgrec) restored into a new database
# of the cluster: pgrec.distributed_models arrives as a plain table holding the rows, and the
# workers serve nothing until the step the README names, run once on the coordinator as a
# superuser; then every node serves the restored models to their grantees as before.
as_alice -c "SET client_min_messages = warning" -c "SELECT version FROM pgrec.train('bk_srv', 'ratings', params => '{\"factors\": 8, \"epochs\": 5}')" \
  -c "SELECT pgrec.distribute_model('bk_srv')" -c "SELECT pgrec.grant_model('bk_srv', 'bob')" >/dev/null
bk="SELECT string_agg(item_id::text, ' ' ORDER BY score DESC, item_id) FROM pgrec.recommend('bk_srv', 7, 5)"
want_bk=$(as_alice -At -c "$bk")
as_pg pg_dump -h "$dir" -p 5441 -Fc -e pgrec -d pgrec_citus -f "$dir/pgrec.dump"
for p in 5441 5442 5443; do
  as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p $p -d postgres -c "CREATE DATABASE pgrec_citus_restored"
  as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p $p -d pgrec_citus_restored -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus"
done
restored() { local p=$1; shift; as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$p" -d pgrec_citus_restored "$@"; }
restored 5441 -c "SELECT citus_set_coordinator_host('$dir', 5441)" -c "SELECT citus_add_node('$dir', 5442)" \
  -c "SELECT citus_add_node('$dir', 5443)" >/dev/null
out=$(as_pg pg_restore -h "$dir" -p 5441 -d pgrec_citus_restored --exit-on-error "$dir/pgrec.dump" 2>&1) || fail "pg_restore on the coordinator: $out"
[ "$(restored 5441 -At -c "SET ROLE alice" -c "$bk")" = "$want_bk" ] || fail "the restored coordinator serves bk_srv differently"
restored 5442 -At -U bob -c "$bk" >/dev/null 2>&1 && fail "a worker served a model before the restored catalog was distributed again"
restored 5441 -c "SET client_min_messages = warning" \
  -c "SELECT pgrec.distribute_model(model) FROM pgrec.distributed_models ORDER BY model" >/dev/null
for p in 5442 5443; do
  got=$(as_pg psql -X -At -h "$dir" -p $p -U bob -d pgrec_citus_restored -c "$bk") || fail "bob on worker $p after the restore: $got"
  [ "$got" = "$want_bk" ] || fail "worker $p serves the restored bk_srv as $got, the source $want_bk"
done
echo "citus: pg_dump -e pgrec of the coordinator restored into a new database; after SELECT pgrec.distribute_model(model) FROM pgrec.distributed_models the workers serve the restored model to its grantee as the source did"
echo "citus test passed"
