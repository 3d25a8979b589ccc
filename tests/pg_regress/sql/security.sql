-- Functions run with the caller's privileges: no reading tables you cannot read, no
-- overwriting or dropping models you do not own. Reading models is in access.sql.
SET client_min_messages = warning;
DROP ROLE IF EXISTS pgrec_alice;
DROP ROLE IF EXISTS pgrec_bob;
CREATE ROLE pgrec_alice;
CREATE ROLE pgrec_bob;
GRANT SELECT ON tiny TO pgrec_alice;
SET ROLE pgrec_alice;
SELECT model, version FROM pgrec.train('alice_model', 'tiny', params => '{"factors": 4, "epochs": 2}');
SELECT owner FROM pgrec.models WHERE model = 'alice_model';
-- bob may read (serve) alice's model, which makes the write checks below meaningful
SELECT pgrec.grant_model('alice_model', 'pgrec_bob');
SET ROLE pgrec_bob;
-- bob cannot read alice's source table
SELECT * FROM pgrec.train('bob_model', 'tiny');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('bob_model', 'SELECT * FROM tiny');
-- bob cannot add a version to alice's model, drop it or change its rows
SELECT * FROM pgrec.train('alice_model', 'SELECT 1 AS user_id, 1 AS item_id, 3.0 AS rating');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.drop_model('alice_model');
\echo :LAST_ERROR_SQLSTATE
UPDATE pgrec.model_versions SET active = false WHERE model = 'alice_model';
DELETE FROM pgrec.user_factors WHERE version_id IN (SELECT id FROM pgrec.model_versions WHERE model = 'alice_model');
INSERT INTO pgrec.model_versions (model, version, algorithm, params, metrics, source, user_col, item_col,
  user_key_type, item_key_type, n_users, n_items, n_interactions, factors, global_mean, train_seconds)
VALUES ('alice_model', 99, 'mf', '{}', '{}', 'x', 'u', 'i', 'bigint', 'bigint', 0, 0, 0, 1, 0, 0);
\echo :LAST_ERROR_SQLSTATE
-- nor take the name over or re-own it, nor register names for others
UPDATE pgrec.model_owners SET owner = 'pgrec_bob'::regrole WHERE model = 'alice_model';
\echo :LAST_ERROR_SQLSTATE
INSERT INTO pgrec.model_owners (model, owner) VALUES ('framed', 'pgrec_alice'::regrole);
\echo :LAST_ERROR_SQLSTATE
-- the names a restore resolves cannot claim a model for another role or grant it
INSERT INTO pgrec.model_owners (model, owner, owner_name) VALUES ('framed', 'pgrec_bob'::regrole, 'pgrec_alice');
\echo :LAST_ERROR_SQLSTATE
INSERT INTO pgrec.model_owners (model, owner, owner_name, reader_names) VALUES ('framed', 'pgrec_bob'::regrole, 'pgrec_bob', '{public}');
\echo :LAST_ERROR_SQLSTATE
-- removing serving files others serve is for superusers
SELECT pgrec.remove_unused_files();
\echo :LAST_ERROR_SQLSTATE
DELETE FROM pgrec.model_owners WHERE model = 'alice_model';
-- shadowing pg_has_role on the search_path does not open alice's rows
RESET ROLE;
GRANT CREATE ON DATABASE :"DBNAME" TO pgrec_bob;
SET ROLE pgrec_bob;
CREATE SCHEMA bob_tricks;
CREATE FUNCTION bob_tricks.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION bob_tricks.pg_has_role(name, name, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
SET search_path = bob_tricks, pg_catalog, public;
UPDATE pgrec.user_factors SET bias = 0 WHERE version_id IN (SELECT id FROM pgrec.model_versions WHERE model = 'alice_model');
DELETE FROM pgrec.item_factors WHERE version_id IN (SELECT id FROM pgrec.model_versions WHERE model = 'alice_model');
RESET search_path;
-- but bob can serve it, with any k
SELECT count(*) FROM pgrec.recommend('alice_model', 1);
SELECT count(*) FROM pgrec.recommend('alice_model', 1, 2147483647);
RESET ROLE;
SELECT version, active, owner FROM pgrec.models WHERE model = 'alice_model';
SELECT count(*) AS rows_intact FROM pgrec.item_embeddings('alice_model');
SELECT count(*) FROM pgrec.user_embeddings('alice_model') WHERE bias = 0;
DROP SCHEMA bob_tricks CASCADE;
REVOKE CREATE ON DATABASE :"DBNAME" FROM pgrec_bob;
SELECT pgrec.drop_model('alice_model');
REVOKE SELECT ON tiny FROM pgrec_alice;
DROP ROLE pgrec_alice;
DROP ROLE pgrec_bob;
