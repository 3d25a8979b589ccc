-- A model is as private as its source: only its owner role, members of that role, superusers and
-- the roles it was granted to (pgrec.grant_model, PUBLIC included) may serve it, read its
-- embeddings, evaluate it or see its rows in any pgrec table or view. Only the owner may train,
-- grant, revoke or drop. Every check runs as the current role, also after SET ROLE inside a
-- backend that has the model cached.
SET client_min_messages = warning;
\set VERBOSITY default
DROP ROLE IF EXISTS pgrec_owner;
DROP ROLE IF EXISTS pgrec_member;
DROP ROLE IF EXISTS pgrec_reader;
DROP ROLE IF EXISTS pgrec_app_group;
DROP ROLE IF EXISTS pgrec_app;
DROP ROLE IF EXISTS pgrec_anyone;
DROP ROLE IF EXISTS pgrec_mallory;
DROP ROLE IF EXISTS pgrec_gone;
CREATE ROLE pgrec_owner;
CREATE ROLE pgrec_member IN ROLE pgrec_owner;     -- a member of the owner role
CREATE ROLE pgrec_reader;                         -- granted by name
CREATE ROLE pgrec_app_group;                      -- granted; pgrec_app reads through membership
CREATE ROLE pgrec_app IN ROLE pgrec_app_group;
CREATE ROLE pgrec_anyone;                         -- only what is granted to PUBLIC
CREATE ROLE pgrec_mallory;                        -- nothing
CREATE ROLE pgrec_gone;                           -- granted, then dropped

-- The owner's private source: nobody else may read it.
CREATE SCHEMA private_data;
CREATE TABLE private_data.ratings AS SELECT * FROM tiny;
CREATE TABLE private_data.items AS SELECT DISTINCT item_id, 'g' || (item_id % 3) AS genre FROM tiny;
ALTER SCHEMA private_data OWNER TO pgrec_owner;
ALTER TABLE private_data.ratings OWNER TO pgrec_owner;
ALTER TABLE private_data.items OWNER TO pgrec_owner;

-- Everything a caller can do with a model, each call reported as ok (with its row count) or
-- with its SQLSTATE. Runs with the caller's privileges.
CREATE FUNCTION try_model(m text) RETURNS TABLE (call text, result text) LANGUAGE plpgsql AS $$
DECLARE
  calls text[] := ARRAY[
    'SELECT pgrec.predict(%L, 1, 1)',
    'SELECT pgrec.predict(%L, ''1'', ''1'')',
    'SELECT * FROM pgrec.recommend(%L, 1, 3)',
    'SELECT * FROM pgrec.recommend(%L, ''1'', 3, false)',
    'SELECT * FROM pgrec.similar_items(%L, 1, 3)',
    'SELECT * FROM pgrec.similar_items(%L, ''1'', 3)',
    'SELECT * FROM pgrec.recommend_for_items(%L, ARRAY[1, 2]::bigint[], 3)',
    'SELECT * FROM pgrec.recommend_for_items(%L, ARRAY[''1''], 3)',
    'SELECT * FROM pgrec.recommend(%L, 1, 3, candidates => ARRAY[1, 2]::bigint[])',
    'SELECT * FROM pgrec.recommend(%L, md5(''u'')::uuid, 3)',
    'SELECT * FROM pgrec.score(%L, 1, ARRAY[1, 2]::bigint[])',
    'SELECT * FROM pgrec.recommend_batch(%L, ARRAY[1, 2]::bigint[], 3)',
    'SELECT * FROM pgrec.recommend_batch(%L, ARRAY[''1''], 3)',
    'SELECT * FROM pgrec.similar_users(%L, 1, 3)',
    'SELECT * FROM pgrec.pca(%L)',
    'SELECT pgrec.embedding_stats(%L)',
    'SELECT * FROM pgrec.user_embeddings(%L)',
    'SELECT * FROM pgrec.item_embeddings(%L, 1)',
    'SELECT pgrec.evaluate(%L, ''SELECT 1 AS user_id, 2 AS item_id, 4.0 AS rating'')',
    -- API v3: exclude / fallback / diversity, popular, explain, the method and uuid overloads
    'SELECT * FROM pgrec.recommend(%L, 1, 3, exclude => ARRAY[2]::bigint[], fallback => ''popular'', diversity => 0.5::real)',
    'SELECT * FROM pgrec.similar_items(%L, 1, 3, method => ''cooccurrence'')',
    'SELECT * FROM pgrec.similar_items(%L, ''1'', 3, method => ''cooccurrence'')',
    'SELECT * FROM pgrec.similar_items(%L, md5(''i'')::uuid, 3)',
    'SELECT * FROM pgrec.recommend_for_items(%L, ARRAY[md5(''i'')::uuid], 3)',
    'SELECT * FROM pgrec.recommend_batch(%L, ARRAY[md5(''u'')::uuid], 3)',
    'SELECT * FROM pgrec.popular(%L, 3, NULL::bigint)',
    'SELECT * FROM pgrec.popular(%L, 3)',
    'SELECT * FROM pgrec.popular(%L, 3, NULL::uuid)',
    'SELECT * FROM pgrec.explain(%L, 1, 2)',
    'SELECT * FROM pgrec.explain(%L, ''1'', ''2'')'];
  c text;
  n bigint;
BEGIN
  FOREACH c IN ARRAY calls LOOP
    call := split_part(split_part(c, '(', 1), 'pgrec.', 2);
    BEGIN
      -- count(q::text) reads every column, so no call is optimised away
      EXECUTE format('SELECT count(q::text) FROM (' || c || ') q', m) INTO n;
      result := 'ok, ' || n || ' rows';
    EXCEPTION WHEN OTHERS THEN
      result := SQLSTATE || ' ' || SQLERRM;
    END;
    RETURN NEXT;
  END LOOP;
END $$;

-- The rows of one model that the caller sees in each pgrec table and view, by version id, so
-- that a hidden model_versions row cannot hide its factors by accident.
CREATE FUNCTION visible_rows(m text, vid bigint) RETURNS text LANGUAGE sql AS $$
SELECT format('models %s, versions %s, owners %s, grants %s, user_factors %s (seen items %s), item_factors %s, history %s, tensors %s, features %s',
  (SELECT count(*) FROM pgrec.models WHERE model = m),
  (SELECT count(*) FROM pgrec.model_versions WHERE id = vid),
  (SELECT count(*) FROM pgrec.model_owners WHERE model = m),
  (SELECT count(*) FROM pgrec.model_grants WHERE model = m),
  (SELECT count(*) FROM pgrec.user_factors WHERE version_id = vid),
  (SELECT coalesce(sum(cardinality(seen_items)), 0) FROM pgrec.user_factors WHERE version_id = vid),
  (SELECT count(*) FROM pgrec.item_factors WHERE version_id = vid),
  (SELECT count(*) FROM pgrec.training_history WHERE version_id = vid),
  (SELECT count(*) FROM pgrec.model_tensors WHERE version_id = vid),
  (SELECT count(features) FROM pgrec.model_versions WHERE id = vid)) $$;

-- The owner trains an mf model and a two_tower model (which stores tensors and features).
SET ROLE pgrec_owner;
SELECT model, version FROM pgrec.train('priv_mf', 'private_data.ratings', params => '{"factors": 4, "epochs": 2}');
SELECT model, version FROM pgrec.train('priv_tt', 'private_data.ratings', 'two_tower',
  item_features => 'private_data.items', params => '{"epochs": 2, "factors": 4}');
RESET ROLE;
SELECT id AS mf_vid FROM pgrec.model_versions WHERE model = 'priv_mf' \gset
SELECT id AS tt_vid FROM pgrec.model_versions WHERE model = 'priv_tt' \gset
-- Each version records what replays it, feature sources included.
SELECT model, algorithm, source, user_col, item_col, rating_col, user_features, item_features
FROM pgrec.model_versions WHERE model LIKE 'priv\_%' ORDER BY 1;
-- A superuser sees everything (the reference counts).
SELECT visible_rows('priv_mf', :mf_vid);
SELECT visible_rows('priv_tt', :tt_vid);

-- Before any grant: the owner and its member may use both models, nobody else may.
SET ROLE pgrec_owner;
SELECT * FROM try_model('priv_mf');
SELECT visible_rows('priv_mf', :mf_vid);
SELECT visible_rows('priv_tt', :tt_vid);
SET ROLE pgrec_member;
SELECT * FROM try_model('priv_tt');
SELECT visible_rows('priv_tt', :tt_vid);
SET ROLE pgrec_mallory;
SELECT * FROM try_model('priv_mf');
SELECT * FROM try_model('priv_tt');
-- The owner-only writes of API v3, refused to anyone else (42501), the model untouched.
SELECT pgrec.hide_items('priv_mf', ARRAY[1]::bigint[]);
SELECT pgrec.unhide_items('priv_mf', ARRAY['1']);
SELECT pgrec.fold_in_items('priv_mf', 'SELECT 1 AS user_id, 99 AS item_id, 4.0 AS rating');
-- The previous release's symbols (src/legacy.rs: what 0.1.0's SQL calls until ALTER EXTENSION
-- UPDATE) check access the same way: bound here by a superuser, the owner gets answers and
-- mallory 42501.
RESET ROLE;
CREATE SCHEMA legacy_calls;
CREATE FUNCTION legacy_calls.recommend_int(text, bigint, int, boolean) RETURNS TABLE (item_id bigint, score real)
  STRICT STABLE LANGUAGE c AS '$libdir/pgrec', 'recommend_int_wrapper';
CREATE FUNCTION legacy_calls.recommend_text(text, text, int, boolean) RETURNS TABLE (item_id text, score real)
  STRICT STABLE LANGUAGE c AS '$libdir/pgrec', 'recommend_text_wrapper';
CREATE FUNCTION legacy_calls.similar_items_int(text, bigint, int) RETURNS TABLE (item_id bigint, similarity real)
  STRICT STABLE LANGUAGE c AS '$libdir/pgrec', 'similar_items_int_wrapper';
CREATE FUNCTION legacy_calls.similar_items_text(text, text, int) RETURNS TABLE (item_id text, similarity real)
  STRICT STABLE LANGUAGE c AS '$libdir/pgrec', 'similar_items_text_wrapper';
GRANT USAGE ON SCHEMA legacy_calls TO PUBLIC;
CREATE FUNCTION legacy_calls.try_all(m text) RETURNS TABLE (call text, result text) LANGUAGE plpgsql AS $$
DECLARE
  calls text[] := ARRAY[
    'SELECT * FROM legacy_calls.recommend_int(%L, 1, 3, true)',
    'SELECT * FROM legacy_calls.recommend_text(%L, ''1'', 3, false)',
    'SELECT * FROM legacy_calls.similar_items_int(%L, 1, 3)',
    'SELECT * FROM legacy_calls.similar_items_text(%L, ''1'', 3)'];
  c text;
  n bigint;
BEGIN
  FOREACH c IN ARRAY calls LOOP
    call := split_part(split_part(c, '(', 1), 'legacy_calls.', 2);
    BEGIN
      EXECUTE format('SELECT count(q::text) FROM (' || c || ') q', m) INTO n;
      result := 'ok, ' || n || ' rows';
    EXCEPTION WHEN OTHERS THEN
      result := SQLSTATE || ' ' || SQLERRM;
    END;
    RETURN NEXT;
  END LOOP;
END $$;
SET ROLE pgrec_owner;
SELECT * FROM legacy_calls.try_all('priv_mf');
SET ROLE pgrec_mallory;
SELECT * FROM legacy_calls.try_all('priv_mf');
RESET ROLE;
DROP SCHEMA legacy_calls CASCADE;
SET ROLE pgrec_mallory;
SELECT visible_rows('priv_mf', :mf_vid);
SELECT visible_rows('priv_tt', :tt_vid);
-- Nor by scanning the tables whole: not one row of the owner's pairs or vectors.
SELECT count(*) FROM pgrec.user_factors;
SELECT count(*) FROM pgrec.model_versions;
-- The error names the model and says how to get access.
SELECT * FROM pgrec.recommend('priv_mf', 1, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.user_embeddings('priv_mf');
\echo :LAST_ERROR_SQLSTATE
-- A model that does not exist is still "does not exist".
SELECT * FROM pgrec.recommend('no_such_model', 1, 3);
\echo :LAST_ERROR_SQLSTATE
SET ROLE pgrec_reader;
SELECT * FROM try_model('priv_mf');

-- Only the owner (or a member) grants; roles are checked.
SET ROLE pgrec_mallory;
SELECT pgrec.grant_model('priv_mf', 'pgrec_mallory');
\echo :LAST_ERROR_SQLSTATE
UPDATE pgrec.model_owners SET readers = '{0}' WHERE model = 'priv_mf';
SET ROLE pgrec_owner;
SELECT pgrec.grant_model('priv_mf', 'no_such_role');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.grant_model('no_such_model', 'pgrec_reader');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.grant_model('priv_mf', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.grant_model('priv_mf', 'pgrec_reader');
SELECT pgrec.grant_model('priv_mf', 'pgrec_app_group');
SELECT pgrec.grant_model('priv_mf', 'pgrec_gone');
SET ROLE pgrec_member;
SELECT pgrec.grant_model('priv_tt', 'public');
SET client_min_messages = notice;
SELECT pgrec.grant_model('priv_tt', 'PUBLIC');
SET client_min_messages = warning;
SELECT model, owner, grantee FROM pgrec.model_grants ORDER BY 1, 3;

-- Granted roles may serve, read embeddings, evaluate and see the catalog rows...
SET ROLE pgrec_reader;
SELECT * FROM try_model('priv_mf');
SELECT visible_rows('priv_mf', :mf_vid);
SET ROLE pgrec_app;
SELECT * FROM try_model('priv_mf');
SET ROLE pgrec_anyone;
SELECT * FROM try_model('priv_tt');
SELECT visible_rows('priv_tt', :tt_vid);
SELECT visible_rows('priv_mf', :mf_vid);
-- ...but not train a new version, drop, grant or revoke.
SET ROLE pgrec_reader;
SELECT * FROM pgrec.train('priv_mf', 'SELECT 1 AS user_id, 1 AS item_id, 3.0 AS rating');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.drop_model('priv_mf');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.grant_model('priv_mf', 'pgrec_mallory');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.revoke_model('priv_mf', 'pgrec_reader');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.fold_in('priv_mf', 'SELECT 9 AS user_id, 1 AS item_id, 3.0 AS rating');
\echo :LAST_ERROR_SQLSTATE
-- nor retrain it or switch its served version
SELECT * FROM pgrec.retrain('priv_mf');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.activate('priv_mf', 1);
\echo :LAST_ERROR_SQLSTATE
SET ROLE pgrec_mallory;
SELECT * FROM pgrec.retrain('priv_mf');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.activate('priv_mf', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.fold_in('priv_mf', 'SELECT 9 AS user_id, 1 AS item_id, 3.0 AS rating');
\echo :LAST_ERROR_SQLSTATE
-- pgrec.split reads its source with the caller's privileges: not the owner's private table
SELECT count(*) FROM pgrec.split('private_data.ratings');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM pgrec.split_text('private_data.ratings');
\echo :LAST_ERROR_SQLSTATE
SET ROLE pgrec_reader;
-- nor change the rows directly
UPDATE pgrec.item_factors SET bias = 0 WHERE version_id = :mf_vid;
DELETE FROM pgrec.model_versions WHERE model = 'priv_mf';
UPDATE pgrec.model_owners SET readers = '{0}' WHERE model = 'priv_mf';
SELECT count(*) AS still_intact FROM pgrec.item_embeddings('priv_mf') WHERE bias <> 0;
-- A version's copy of the grants follows model_owners only: not even the owner writes it.
SET ROLE pgrec_owner;
-- The owner folds a user in from its own private source (replacing user 1 keeps the counts).
SELECT pgrec.fold_in('priv_mf', 'SELECT user_id, item_id, rating FROM private_data.ratings WHERE user_id = 1') AS folded;
SELECT count(*) > 0 AS owner_splits FROM pgrec.split('private_data.ratings') WHERE is_test;
-- A member of the owner role retrains from the recorded private source (its privileges) and
-- switches back and forth.
SET ROLE pgrec_member;
SELECT version, n_interactions FROM pgrec.retrain('priv_mf');
SELECT pgrec.activate('priv_mf', 1);
SELECT version FROM pgrec.models WHERE model = 'priv_mf' AND active;
SELECT pgrec.activate('priv_mf', (SELECT max(version) FROM pgrec.models WHERE model = 'priv_mf'));
SELECT count(*) AS priv_mf_versions FROM pgrec.models WHERE model = 'priv_mf';
SET ROLE pgrec_owner;
UPDATE pgrec.model_versions SET readers = '{0}' WHERE model = 'priv_mf';
\echo :LAST_ERROR_SQLSTATE
UPDATE pgrec.model_versions SET owner = 'pgrec_mallory'::regrole WHERE model = 'priv_mf';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT o.model, v.version, v.owner = o.owner AS same_owner, v.readers = o.readers AS same_readers
FROM pgrec.model_owners o JOIN pgrec.model_versions v USING (model) WHERE o.model LIKE 'priv\_%' ORDER BY 1, 2;

-- One backend, several roles: the serving cache is checked again on every call.
RESET ROLE;
SELECT count(*) FROM pgrec.recommend('priv_mf', 1, 3);
SET ROLE pgrec_mallory;
SELECT count(*) FROM pgrec.recommend('priv_mf', 1, 3);
SELECT pgrec.predict('priv_mf', 1, 1) IS NULL AS hidden;
SET ROLE pgrec_reader;
SELECT count(*) FROM pgrec.recommend('priv_mf', 1, 3);
-- A revoke takes effect at once, here and in the granted role's next call.
SET ROLE pgrec_owner;
SELECT pgrec.revoke_model('priv_mf', 'pgrec_reader');
SET client_min_messages = notice;
SELECT pgrec.revoke_model('priv_mf', 'pgrec_reader');
SET client_min_messages = warning;
SET ROLE pgrec_reader;
SELECT count(*) FROM pgrec.recommend('priv_mf', 1, 3);
SELECT visible_rows('priv_mf', :mf_vid);
SET ROLE pgrec_app;
SELECT count(*) FROM pgrec.recommend('priv_mf', 1, 3);
-- Revoking PUBLIC closes the model to everyone else again.
SET ROLE pgrec_owner;
SELECT pgrec.revoke_model('priv_tt', 'public');
SET ROLE pgrec_anyone;
SELECT count(*) FROM pgrec.recommend('priv_tt', 1, 3);
SELECT visible_rows('priv_tt', :tt_vid);

-- A dropped grantee role leaves no usable grant; a role re-created under its name gets nothing.
RESET ROLE;
DROP ROLE pgrec_gone;
SELECT model, grantee ~ '^unknown' AS dropped_role FROM pgrec.model_grants WHERE model = 'priv_mf' ORDER BY 2;
CREATE ROLE pgrec_gone;
SET ROLE pgrec_gone;
SELECT count(*) FROM pgrec.recommend('priv_mf', 1, 3);
SET ROLE pgrec_owner;
SELECT pgrec.revoke_model('priv_mf', 'no_such_role');
\echo :LAST_ERROR_SQLSTATE
-- The new role never had a grant; any grant or revoke on the model clears the dropped role's.
SET client_min_messages = notice;
SELECT pgrec.revoke_model('priv_mf', 'pgrec_gone');
SET client_min_messages = warning;
SELECT grantee FROM pgrec.model_grants WHERE model = 'priv_mf';

-- Views, security-definer functions and search_path tricks run as their owner or the caller:
-- none of them opens the owner's rows to mallory; nor do the planner statistics.
RESET ROLE;
ANALYZE pgrec.user_factors, pgrec.item_factors, pgrec.model_versions;
GRANT CREATE ON DATABASE :"DBNAME" TO pgrec_mallory;
SET ROLE pgrec_mallory;
CREATE SCHEMA mallory_tricks;
CREATE VIEW mallory_tricks.peek AS SELECT * FROM pgrec.user_factors;
CREATE FUNCTION mallory_tricks.peek_definer() RETURNS bigint LANGUAGE sql SECURITY DEFINER
  AS 'SELECT count(*) FROM pgrec.item_factors';
CREATE FUNCTION mallory_tricks.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION mallory_tricks.pg_get_userbyid(oid) RETURNS name LANGUAGE sql AS 'SELECT ''pgrec_mallory''::name';
SET search_path = mallory_tricks, pg_catalog, public;
SELECT count(*) FROM mallory_tricks.peek;
SELECT mallory_tricks.peek_definer();
SELECT count(*) FROM pgrec.model_owners;
SELECT count(*) FROM pgrec.recommend('priv_mf', 1, 3);
-- Nor distribute it (no Citus here: 0A000 before any lookup), nor write a distributed row:
-- not under its owner's name, not for a name nobody distributed under her own (every Citus
-- node would trust it), not by updating or deleting one. Only pgrec's functions write there.
SELECT pgrec.distribute_model('priv_mf');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO pgrec.distributed_models (model, owner, version_id, version, info, params, serving)
VALUES ('priv_mf', 'pgrec_owner', 1, 1, '{}', '{}', '\x00');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO pgrec.distributed_models (model, owner, readers, version_id, version, info, params, serving)
VALUES ('squatted_mf', 'pgrec_mallory', '{public}', 1, 1, '{}', '{}', '\x00');
\echo :LAST_ERROR_SQLSTATE
UPDATE pgrec.distributed_models SET readers = '{public}';
\echo :LAST_ERROR_SQLSTATE
DELETE FROM pgrec.distributed_models;
\echo :LAST_ERROR_SQLSTATE
-- Nor read a distributed row of the owner's, even with an = operator of her own first on the
-- search_path (the row-level check runs with a fixed search_path).
CREATE FUNCTION mallory_tricks.name_eq(name, name) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR mallory_tricks.= (LEFTARG = name, RIGHTARG = name, FUNCTION = mallory_tricks.name_eq);
RESET ROLE;
INSERT INTO pgrec.distributed_models (model, owner, version_id, version, info, params, serving)
VALUES ('priv_mf', 'pgrec_owner', 1, 1, '{}', '{}', '\x00');
SET ROLE pgrec_mallory;
SELECT count(*) AS distributed_rows_seen FROM pgrec.distributed_models;
DROP OPERATOR mallory_tricks.= (name, name);
RESET ROLE;
DELETE FROM pgrec.distributed_models;
SET ROLE pgrec_mallory;
SELECT count(*) AS stats_rows FROM pg_stats WHERE schemaname = 'pgrec';
-- The functions that touch no model work for any role.
SELECT count(*) AS algorithms FROM pgrec.algorithms();
SELECT count(*) AS synthetic_rows FROM pgrec.synthetic_ratings(5, 4, 10);
RESET search_path;
-- The catalog views run as the caller too.
RESET ROLE;
SELECT c.relname, c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgrec' AND c.relkind = 'v' ORDER BY 1;
-- Every pgrec table has row-level security.
SELECT c.relname, c.relrowsecurity FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'pgrec' AND c.relkind = 'r' ORDER BY 1;

-- The owner's member may drop; the grants go with the model.
SET ROLE pgrec_member;
SELECT pgrec.drop_model('priv_mf');
SELECT pgrec.drop_model('priv_tt');
RESET ROLE;
SELECT count(*) FROM pgrec.model_owners WHERE model LIKE 'priv\_%';
DROP SCHEMA mallory_tricks CASCADE;
REVOKE CREATE ON DATABASE :"DBNAME" FROM pgrec_mallory;
DROP SCHEMA private_data CASCADE;
DROP FUNCTION try_model(text);
DROP FUNCTION visible_rows(text, bigint);
DROP ROLE pgrec_owner, pgrec_member, pgrec_reader, pgrec_app_group, pgrec_app, pgrec_anyone,
  pgrec_mallory, pgrec_gone;
