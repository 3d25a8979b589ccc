-- Every user error is an ERROR with a SQLSTATE, a message naming the bad value, a hint where
-- useful, and writes nothing.
\set VERBOSITY default
SET client_min_messages = warning;
-- missing table
SELECT * FROM pgrec.train('e', 'no_such_table');
\echo :LAST_ERROR_SQLSTATE
-- missing columns
SELECT * FROM pgrec.train('e', 'tiny', user_col => 'uid');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', rating_col => 'stars');
\echo :LAST_ERROR_SQLSTATE
-- unsupported key type
CREATE TABLE float_keys (user_id float8, item_id int, rating real);
INSERT INTO float_keys VALUES (1.5, 1, 3);
SELECT * FROM pgrec.train('e', 'float_keys');
\echo :LAST_ERROR_SQLSTATE
-- non-numeric rating
CREATE TABLE text_ratings (user_id int, item_id int, rating text);
INSERT INTO text_ratings VALUES (1, 1, 'good');
SELECT * FROM pgrec.train('e', 'text_ratings');
\echo :LAST_ERROR_SQLSTATE
-- NaN and infinite ratings
SELECT * FROM pgrec.train('e', $$SELECT 1 AS user_id, 2 AS item_id, 'NaN'::float8 AS rating$$);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', $$SELECT 1 AS user_id, 2 AS item_id, 'Infinity'::real AS rating$$);
\echo :LAST_ERROR_SQLSTATE
-- the message names the row's keys, text or integer, also past the first rows (integer keys
-- are interned a batch of rows at a time)
SELECT * FROM pgrec.train('e', $$SELECT 'alice' AS user_id, 7 AS item_id, '-Infinity'::float8 AS rating$$);
SELECT * FROM pgrec.train('e', $$SELECT u AS user_id, 'i' || (u % 50) AS item_id,
    CASE WHEN u = 9000 THEN 'NaN'::float8 ELSE 1 END AS rating FROM generate_series(1, 10000) u$$);
-- empty source
SELECT * FROM pgrec.train('e', 'SELECT * FROM tiny WHERE false');
\echo :LAST_ERROR_SQLSTATE
-- only NULL rows: skipped (NOTICE), then empty
SET client_min_messages = notice;
SELECT * FROM pgrec.train('e', $$SELECT NULL::int AS user_id, 1 AS item_id, 3.0 AS rating$$);
\echo :LAST_ERROR_SQLSTATE
SET client_min_messages = warning;
-- duplicate (user, item) rows
SELECT * FROM pgrec.train('e', 'SELECT * FROM tiny UNION ALL SELECT * FROM tiny WHERE user_id = 2 AND item_id = 2');
\echo :LAST_ERROR_SQLSTATE
-- unknown and not yet available algorithms
SELECT * FROM pgrec.train('e', 'tiny', algorithm => 'svdpp');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', algorithm => 'als', rating_col => NULL);
\echo :LAST_ERROR_SQLSTATE
-- unknown, non-numeric and out-of-range params
SELECT * FROM pgrec.train('e', 'tiny', params => '{"factorz": 8}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', params => '{"factors": "eight"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', params => '{"factors": 0}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', params => '{"epochs": -3}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', params => '{"learning_rate": -0.01}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', params => '{"validation_fraction": 0.9}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', params => '[1, 2]');
\echo :LAST_ERROR_SQLSTATE
-- a diverging configuration is an error, not a stored model
SELECT * FROM pgrec.train('e', 'tiny', params => '{"learning_rate": 9, "optimizer": "sgd", "init_std": 3}');
\echo :LAST_ERROR_SQLSTATE
-- implicit feedback and features are not for mf
SELECT * FROM pgrec.train('e', 'tiny', rating_col => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'tiny', item_features => 'tiny');
\echo :LAST_ERROR_SQLSTATE
-- NULL and empty arguments
SELECT * FROM pgrec.train(NULL, 'tiny');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('', 'tiny');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', NULL);
\echo :LAST_ERROR_SQLSTATE
-- a data-modifying source is refused
SELECT * FROM pgrec.train('e', 'WITH d AS (DELETE FROM tiny RETURNING *) SELECT * FROM d');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('e', 'SELECT * FROM tiny; DROP TABLE tiny');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM tiny;
-- nothing was written by any of the above
SELECT count(*) FROM pgrec.models WHERE model = 'e';
SELECT count(*) FROM pgrec.model_versions WHERE model = 'e';
-- serving errors
SELECT * FROM pgrec.recommend('no_such_model', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.predict('no_such_model', 1, 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.similar_items('no_such_model', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.user_embeddings('no_such_model');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.evaluate('no_such_model', 'tiny');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.drop_model('no_such_model');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('t', 'tiny', params => '{"epochs": 2, "factors": 4}') \gset
SELECT * FROM pgrec.recommend('t', 1, 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.similar_items('t', 1, -1);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.evaluate('t', 'tiny', k => 0);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.drop_model('t');
