#!/usr/bin/env bash
# Upgrade test: install the oldest release (0.1.0, sql/releases), train and serve models as an
# ordinary role, ALTER EXTENSION pgrec UPDATE (0.1.0 -> 0.2.0 -> 0.3.0), and check that
#   1. the same models serve the same answers (same session and a new one), bit for bit;
#   2. they became private to their owner role (another role gets 42501 until granted);
#   3. the upgraded schema is the schema of a fresh install of the current version (columns,
#      constraints, indexes, policies, views, functions, triggers, privileges, comments);
#   4. a database at the previous release (0.2.0) serves the same answers through its own SQL
#      (the 0.2.0 symbols) and through the new functions after ALTER EXTENSION pgrec UPDATE.
# Run by scripts/run_sql_tests.sh after the pg_regress suite.
set -euo pipefail
cd "$(dirname "$0")/../.."
psql() { ./scripts/psql.sh -X -v ON_ERROR_STOP=1 "$@"; }
old=pgrec_upgrade_old
new=pgrec_upgrade_new
fail() { echo "upgrade test FAILED: $*"; exit 1; }

for db in $old $new; do
  psql -q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" 2>/dev/null
done
psql -q -d postgres <<'SQL' 2>/dev/null
DROP ROLE IF EXISTS pgrec_up_owner;
DROP ROLE IF EXISTS pgrec_up_other;
CREATE ROLE pgrec_up_owner;
CREATE ROLE pgrec_up_other;
SQL
# The 0.1.0 catalog is filled the way 0.1.0's pgrec.train filled it (this library can no longer
# train against that schema): an integer-keyed model with two versions and a text-keyed one,
# owned by an ordinary role, with known embeddings.
psql -q -d $old <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION pgrec VERSION '0.1.0';
CREATE TABLE up_r AS SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
FROM generate_series(1, 40) u, generate_series(1, 25) i WHERE (u + i) % 3 <> 0;
ALTER TABLE up_r OWNER TO pgrec_up_owner;
SET ROLE pgrec_up_owner;
INSERT INTO pgrec.model_owners (model) VALUES ('up_mf'), ('up_text');
INSERT INTO pgrec.model_versions (model, version, algorithm, params, metrics, source, user_col,
  item_col, rating_col, user_key_type, item_key_type, n_users, n_items, n_interactions, factors,
  global_mean, rating_min, rating_max, train_seconds, active)
VALUES ('up_mf', 1, 'mf', '{"factors": 3}', '{}', 'up_r', 'user_id', 'item_id', 'rating', 'bigint', 'bigint', 40, 25, 667, 3, 3.0, 1, 5, 0.5, false),
       ('up_mf', 2, 'mf', '{"factors": 3}', '{}', 'up_r', 'user_id', 'item_id', 'rating', 'bigint', 'bigint', 40, 25, 667, 3, 3.1, 1, 5, 0.5, true),
       ('up_text', 1, 'mf', '{"factors": 3}', '{}', 'SELECT ...', 'user_id', 'item_id', 'rating', 'text', 'text', 40, 25, 667, 3, 2.9, 1, 5, 0.5, true);
INSERT INTO pgrec.user_factors (version_id, idx, user_id, user_key, bias, embedding, seen_items)
SELECT v.id, u - 1, CASE WHEN v.user_key_type = 'bigint' THEN u END,
       CASE WHEN v.user_key_type = 'text' THEN 'u' || u END, (u % 5) / 10.0 - 0.2,
       ARRAY[sin(u + v.version), cos(u), sin(2 * u)]::real[],
       ARRAY(SELECT i - 1 FROM generate_series(1, 25) i WHERE (u + i) % 3 <> 0 AND i % 2 = 0)
FROM pgrec.model_versions v, generate_series(1, 40) u;
INSERT INTO pgrec.item_factors (version_id, idx, item_id, item_key, bias, embedding)
SELECT v.id, i - 1, CASE WHEN v.item_key_type = 'bigint' THEN i END,
       CASE WHEN v.item_key_type = 'text' THEN 'i' || i END, (i % 7) / 10.0 - 0.3,
       ARRAY[cos(i), sin(i * v.version), cos(3 * i)]::real[]
FROM pgrec.model_versions v, generate_series(1, 25) i;
INSERT INTO pgrec.training_history (version_id, epoch, train_rmse, train_loss, validation_rmse, seconds)
SELECT v.id, e, 1.0 / e, 1.0 / (e * e), NULL, 0.01 FROM pgrec.model_versions v, generate_series(1, 3) e;
SQL

# Serving's answers must equal an independent computation from the stored embeddings.
independent=$(psql -At -d $old <<'SQL'
SELECT count(*) FILTER (WHERE abs(p - ref) > 1e-5) || ' of ' || count(*)
FROM (SELECT pgrec.predict('up_mf', u, i) AS p,
             least(5, greatest(1, 3.1 + (u % 5) / 10.0 - 0.2 + (i % 7) / 10.0 - 0.3
                   + sin(u + 2) * cos(i) + cos(u) * sin(i * 2) + sin(2 * u) * cos(3 * i))) AS ref
      FROM generate_series(1, 40) u, generate_series(1, 25) i) t;
SQL
)
[ "$independent" = "0 of 1000" ] || fail "predict differs from the stored embeddings' dot products: $independent"

# Everything a model answers, as one text per model (run as the owner role).
answers() { # db [session prefix SQL]
  psql -qAt -d "$1" <<SQL
SET client_min_messages = warning;
\\o /dev/null
${2:-}
\\o
SET ROLE pgrec_up_owner;
SELECT m, md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT m, 'rec ' || u || ' ' || r.item_id || ' ' || r.score AS x
  FROM unnest(ARRAY['up_mf']) m, generate_series(1, 40) u, pgrec.recommend(m, u, 5) r
  UNION ALL
  SELECT 'up_text', 'rec ' || u || ' ' || r.item_id || ' ' || r.score
  FROM generate_series(1, 40) u, pgrec.recommend('up_text', 'u' || u, 5) r
  UNION ALL
  SELECT m, 'sim ' || i || ' ' || s.item_id || ' ' || s.similarity
  FROM unnest(ARRAY['up_mf']) m, generate_series(1, 25) i, pgrec.similar_items(m, i, 5) s
  UNION ALL
  SELECT m, 'pred ' || u || ' ' || pgrec.predict(m, u, u % 25 + 1)
  FROM unnest(ARRAY['up_mf']) m, generate_series(1, 40) u
  UNION ALL
  SELECT m, 'user ' || e.user_id || ' ' || e.bias || ' ' || e.embedding::text
  FROM unnest(ARRAY['up_mf', 'up_text']) m, pgrec.user_embeddings(m) e
  UNION ALL
  SELECT m, 'item ' || e.item_id || e.item_key || ' ' || e.bias || ' ' || e.embedding::text
  FROM unnest(ARRAY['up_mf', 'up_text']) m, pgrec.item_embeddings(m) e
  UNION ALL
  SELECT m, 'v1 ' || e.user_id || ' ' || e.embedding::text FROM unnest(ARRAY['up_mf']) m, pgrec.user_embeddings(m, 1) e
  UNION ALL
  SELECT m, 'eval ' || (pgrec.evaluate(m, 'up_r') - 'n_rows')::text FROM unnest(ARRAY['up_mf']) m
) t GROUP BY m ORDER BY m;
SELECT model, version, active, owner FROM pgrec.models ORDER BY 1, 2;
SQL
}
before=$(answers $old)
# Until the update, this library serves the old catalog but refuses to train on it.
pre=$(psql -qAt -d $old -c "SET ROLE pgrec_up_owner" -c "SELECT pgrec.train('up_new', 'up_r')" 2>&1 || true)
grep -q "catalog in this database is at version 0.1.0" <<<"$pre" || fail "training before the update: $pre"
# One session serves, updates the extension and serves again (its cached model and prepared
# lookup must follow); a new session serves once more.
during=$(answers $old "SELECT count(*) FROM pgrec.recommend('up_mf', 1, 3); RESET ROLE; ALTER EXTENSION pgrec UPDATE;")
after=$(answers $old)
[ "$(psql -At -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'pgrec'")" = "0.3.0" ] \
  || fail "extension not at 0.3.0 after ALTER EXTENSION UPDATE"
echo "$before"
[ "$before" = "$during" ] || fail "answers changed in the session that ran the update:
$before
---
$during"
[ "$before" = "$after" ] || fail "answers changed after the update:
$before
---
$after"
echo "same answers before and after ALTER EXTENSION pgrec UPDATE (0.1.0 -> 0.3.0)"

# The models are now private to their owner role.
denied=$(psql -qAt -d $old -c "SET ROLE pgrec_up_other" -c "SELECT count(*) FROM pgrec.recommend('up_mf', 1, 3)" 2>&1 || true)
grep -q 'permission denied for model "up_mf"' <<<"$denied" || fail "another role could serve up_mf: $denied"
psql -q -d $old -c "SET ROLE pgrec_up_owner" -c "SELECT pgrec.grant_model('up_mf', 'pgrec_up_other')" >/dev/null
granted=$(psql -qAt -d $old -c "SET ROLE pgrec_up_other" -c "SELECT count(*) FROM pgrec.recommend('up_mf', 1, 3)")
[ "$granted" = "3" ] || fail "the granted role could not serve up_mf: $granted"
visible=$(psql -qAt -d $old -c "SET ROLE pgrec_up_other" -c "SELECT count(*) FROM pgrec.models WHERE model = 'up_text'")
[ "$visible" = "0" ] || fail "another role sees up_text in pgrec.models"
# The owner trains a new version on the upgraded catalog; it records its sources.
psql -q -d $old -c "SET client_min_messages = warning" -c "SET ROLE pgrec_up_owner" \
  -c "SELECT version FROM pgrec.train('up_mf', 'up_r', params => '{\"factors\": 4, \"epochs\": 2}')" >/dev/null
trained=$(psql -At -d $old -c "SELECT version || ' ' || active || ' ' || source || ' ' || pg_get_userbyid(owner) FROM pgrec.model_versions WHERE model = 'up_mf' ORDER BY version DESC LIMIT 1")
[ "$trained" = "3 true up_r pgrec_up_owner" ] || fail "training after the update: $trained"
echo "after the update, models are private to their owner role until granted"
# Roles by name for pg_dump (0.3.0): filled in for the models the update found, kept by grants.
names=$(psql -At -d $old -c "SELECT string_agg(model || ' ' || owner_name || ' ' || reader_names::text, ', ' ORDER BY model) FROM pgrec.model_owners")
[ "$names" = "up_mf pgrec_up_owner {pgrec_up_other}, up_text pgrec_up_owner {}" ] || fail "role names after the update: $names"
marked=$(psql -At -d $old -c "SELECT cardinality(extconfig) FROM pg_extension WHERE extname = 'pgrec'")
[ "$marked" = 9 ] || fail "$marked catalog tables and sequences are marked for pg_dump after the update, not 9"
echo "after the update, owners and readers are recorded by name and the catalog is marked for pg_dump"

# The upgraded schema equals a fresh install's.
psql -q -d $new -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgrec"
schema() {
  psql -At -d "$1" <<'SQL'
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
       || coalesce(' acl ' || a.attacl::text, '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = 'pgrec' AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' rls ' || c.relrowsecurity
       || ' options ' || coalesce(c.reloptions::text, '') || ' acl ' || coalesce(c.relacl::text, '')
       || coalesce(' comment ' || obj_description(c.oid, 'pg_class'), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'pgrec'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'pgrec'::regnamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = 'pgrec'::regnamespace
UNION ALL
SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' '
       || coalesce(qual, '') || ' / ' || coalesce(with_check, '')
FROM pg_policies WHERE schemaname = 'pgrec'
UNION ALL
SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'pgrec'
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' returns ' || pg_get_function_result(p.oid)
       || ' ' || p.provolatile::text || p.proparallel::text || p.prosecdef || ' ' || coalesce(p.proconfig::text, '')
       || ' ' || md5(p.prosrc) || ' acl ' || coalesce(p.proacl::text, '')
       || coalesce(' comment ' || obj_description(p.oid, 'pg_proc'), '')
FROM pg_proc p WHERE p.pronamespace = 'pgrec'::regnamespace
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE c.relnamespace = 'pgrec'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'schema acl ' || coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = 'pgrec'
UNION ALL
SELECT 'dumped ' || c::regclass::text || ' ' || coalesce(e.extcondition[i], '')
FROM pg_extension e, unnest(e.extconfig) WITH ORDINALITY AS x(c, i) WHERE e.extname = 'pgrec'
UNION ALL
SELECT 'event trigger ' || evtname || ' ' || evtevent || ' ' || evtfoid::regprocedure || ' '
       || coalesce(evttags::text, '') || ' ' || evtenabled::text
FROM pg_event_trigger
ORDER BY 1;
SQL
}
schema $old > /tmp/pgrec_upgrade_schema.old
schema $new > /tmp/pgrec_upgrade_schema.new
[ "$(wc -l < /tmp/pgrec_upgrade_schema.new)" -gt 100 ] || fail "the schema listing is too short"
if ! diff /tmp/pgrec_upgrade_schema.old /tmp/pgrec_upgrade_schema.new; then
  fail "the upgraded schema differs from a fresh install (< upgraded, > fresh)"
fi
echo "upgraded schema = fresh install schema ($(wc -l < /tmp/pgrec_upgrade_schema.new) objects compared)"

# From the previous release (0.2.0): its SQL calls the serving functions whose argument lists
# grew in 0.3.0 (exclude, fallback, diversity) by their 0.2.0 symbols (src/symbols_0_2.rs); the
# answers are the same through them, and through the new functions after the update.
prev=pgrec_upgrade_prev
psql -q -d postgres -c "DROP DATABASE IF EXISTS $prev WITH (FORCE)" -c "CREATE DATABASE $prev" 2>/dev/null
psql -q -d $prev -f tests/upgrade/at_0.2.0.sql
prev_answers() {
  psql -qAt -d $prev -f tests/upgrade/at_0.2.0_answers.sql
}
at_prev=$(prev_answers)
psql -q -d $prev -c "ALTER EXTENSION pgrec UPDATE"
at_new=$(prev_answers)
[ -n "$at_prev" ] && [ "$at_prev" = "$at_new" ] || fail "answers changed across ALTER EXTENSION pgrec UPDATE from 0.2.0: $at_prev, then $at_new"
echo "same answers through 0.2.0's functions (its symbols) and after ALTER EXTENSION pgrec UPDATE (0.2.0 -> 0.3.0)"

for db in $old $new $prev; do psql -q -d postgres -c "DROP DATABASE $db WITH (FORCE)"; done
psql -q -d postgres -c "DROP ROLE pgrec_up_owner" -c "DROP ROLE pgrec_up_other"
echo "upgrade test passed"
