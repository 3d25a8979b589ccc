-- Operations: retrain replays the active version's recorded training, keep_versions bounds the
-- versions kept (never the active one), activate switches serving to a kept version.
SET client_min_messages = error;
CREATE TABLE ops_r AS SELECT * FROM tiny;
SELECT version, n_interactions FROM pgrec.train('ops', 'ops_r',
  params => '{"factors": 3, "epochs": 4, "seed": 5, "keep_versions": 2}');
SELECT params->'keep_versions' AS kept_param FROM pgrec.models WHERE model = 'ops';
-- the same seed and data: retrain gives the same model as the first training
SELECT md5(string_agg(embedding::text, '|' ORDER BY item_id)) AS v1 FROM pgrec.item_embeddings('ops') \gset
SELECT version, algorithm, n_interactions FROM pgrec.retrain('ops');
SELECT md5(string_agg(embedding::text, '|' ORDER BY item_id)) = :'v1' AS same_model FROM pgrec.item_embeddings('ops');
-- the source grows: the replay reads it again
INSERT INTO ops_r SELECT 99, item_id, 4 FROM (SELECT DISTINCT item_id FROM tiny) i;
SELECT version, n_users, n_interactions FROM pgrec.retrain('ops');
-- a version with keep_versions folds in, evaluates and serves like any other
SELECT count(*) AS basket FROM pgrec.recommend_for_items('ops', ARRAY[1, 2]::bigint[], 3);
SELECT (pgrec.evaluate('ops', 'ops_r')->>'n_rows')::int AS evaluated_rows;
-- keep_versions 2: version 1 is gone, 2 and 3 remain, 3 active
SELECT version, active, params->'keep_versions' AS keep FROM pgrec.models WHERE model = 'ops' ORDER BY version;
SELECT count(*) AS factor_rows_of_removed_versions FROM pgrec.item_factors f
WHERE NOT EXISTS (SELECT 1 FROM pgrec.model_versions v WHERE v.id = f.version_id);

-- activate: back to version 2 (serving follows), forward to 3
SELECT pgrec.predict('ops', 99, 1) IS NOT NULL AS v3_knows_user_99;
SELECT pgrec.activate('ops', 2);
SELECT version FROM pgrec.models WHERE model = 'ops' AND active;
SELECT pgrec.predict('ops', 99, 1) IS NULL AS v2_does_not;
-- retrain replays the active version (2): it was trained before user 99 existed, but the
-- source is read anew; the new version 4 becomes active and only the newest 2 are kept (the
-- old active one, 2, is not active any more)
SELECT version, n_users FROM pgrec.retrain('ops');
SELECT version, active FROM pgrec.models WHERE model = 'ops' ORDER BY version;
-- activate inside a transaction that rolls back changes nothing
BEGIN;
SELECT pgrec.activate('ops', 3);
ROLLBACK;
SELECT version FROM pgrec.models WHERE model = 'ops' AND active;
-- activating the active version is a no-op
SELECT pgrec.activate('ops', 4);
SELECT count(*) FILTER (WHERE active) AS active_versions FROM pgrec.models WHERE model = 'ops';

-- keep_versions 1: only the new (active) version stays, whichever version was active before
SELECT pgrec.activate('ops', 3);
SELECT version FROM pgrec.train('ops', 'ops_r', params => '{"factors": 3, "epochs": 1, "keep_versions": 1}');
SELECT version, active FROM pgrec.models WHERE model = 'ops' ORDER BY version;
-- without keep_versions nothing is removed
SELECT version FROM pgrec.train('ops', 'ops_r', params => '{"factors": 3, "epochs": 1}');
SELECT count(*) AS versions FROM pgrec.models WHERE model = 'ops';

-- errors
\set VERBOSITY terse
SELECT pgrec.activate('ops', 42);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.activate('nope', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.activate('ops', NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.retrain('nope');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('ops2', 'ops_r', params => '{"keep_versions": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('ops2', 'ops_r', params => '{"keep_versions": "two"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('ops2', 'ops_r', params => '{"keep_versions": 1.5}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS ops2_versions FROM pgrec.models WHERE model = 'ops2';
-- a retrain whose recorded source is gone fails cleanly and leaves the active version serving
ALTER TABLE ops_r RENAME TO ops_r_moved;
SELECT * FROM pgrec.retrain('ops');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY default
SELECT version FROM pgrec.models WHERE model = 'ops' AND active;
SELECT count(*) AS still_serves FROM pgrec.recommend('ops', 1, 3);
ALTER TABLE ops_r_moved RENAME TO ops_r;
SELECT pgrec.drop_model('ops');

-- The memory guard: a training estimated above pgrec.max_training_memory is refused (53200)
-- before reading, while reading or before training, with the estimate; only superusers change it.
SET pgrec.max_training_memory = '1MB';
\set VERBOSITY terse
SELECT * FROM pgrec.train('ops_mem', 'ops_r');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('ops_mem', 'SELECT user_id, item_id, rating FROM ops_r');
\echo :LAST_ERROR_SQLSTATE
-- 4,000 users and items at 1024 factors: refused once the source is read
SET pgrec.max_training_memory = '100MB';
SELECT * FROM pgrec.train('ops_mem', 'SELECT g AS user_id, g AS item_id, 1 AS rating FROM generate_series(1, 2000) g',
                          params => '{"factors": 1024}');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS ops_mem_versions FROM pgrec.models WHERE model = 'ops_mem';
RESET pgrec.max_training_memory;
SELECT (metrics->>'memory_estimate_mb')::int AS estimate_mb
FROM pgrec.train('ops_mem', 'ops_r', params => '{"factors": 4, "epochs": 1}');
CREATE ROLE pgrec_ops_user;
SET ROLE pgrec_ops_user;
SET pgrec.max_training_memory = '100GB';
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE pgrec_ops_user;
SELECT pgrec.drop_model('ops_mem');

-- pgrec.distribute_model needs Citus (tests/citus/run.sh runs it on a cluster): here, a plain
-- error, and no row written; an unrelated role gets the same error before any model lookup
SELECT pgrec.distribute_model('ops_r_model');
\echo :LAST_ERROR_SQLSTATE
CREATE ROLE pgrec_ops_other;
SET ROLE pgrec_ops_other;
SELECT pgrec.distribute_model('ops_r_model');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
DROP ROLE pgrec_ops_other;
SELECT pgrec.distribute_model(NULL);
SELECT count(*) AS distributed_rows FROM pgrec.distributed_models;

-- An owner who is not a superuser prunes versions (keep_versions 1) and drops the model: each
-- version's factors go with it (the trigger on model_versions; the factor tables carry no
-- foreign key), through the owner's own delete policy.
CREATE ROLE pgrec_ops_owner;
CREATE TABLE ops_owned_r AS SELECT * FROM ops_r;
GRANT SELECT ON ops_owned_r TO pgrec_ops_owner;
SET ROLE pgrec_ops_owner;
SET client_min_messages = warning;
SELECT version FROM pgrec.train('ops_owned', 'ops_owned_r', params => '{"factors": 2, "epochs": 1, "keep_versions": 1}');
SELECT version FROM pgrec.train('ops_owned', 'ops_owned_r', params => '{"factors": 2, "epochs": 1, "keep_versions": 1}');
SELECT count(*) AS versions_kept FROM pgrec.models WHERE model = 'ops_owned';
SELECT pgrec.drop_model('ops_owned');
SET client_min_messages = notice;
RESET ROLE;
SELECT (SELECT count(*) FROM pgrec.user_factors f
        WHERE NOT EXISTS (SELECT 1 FROM pgrec.model_versions v WHERE v.id = f.version_id))
     + (SELECT count(*) FROM pgrec.item_factors f
        WHERE NOT EXISTS (SELECT 1 FROM pgrec.model_versions v WHERE v.id = f.version_id)) AS orphaned_factor_rows;
DROP TABLE ops_owned_r;
DROP ROLE pgrec_ops_owner;
