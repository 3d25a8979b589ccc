-- ncf: a network over [user vector, item vector] scores every pair; serving runs it.
SET client_min_messages = warning;
\set VERBOSITY default
CREATE TABLE nc_r (user_id int, item_id int, rating real);
INSERT INTO nc_r SELECT u, i, 1 + (u * 7 + i * 3) % 5
FROM generate_series(1, 30) u, generate_series(1, 20) i WHERE (u + i) % 3 <> 0;
-- Items 21-24 have features but no ratings (cold items).
CREATE TABLE nc_items (item_id int, genre text, tags text[]);
INSERT INTO nc_items SELECT i, 'g' || (i % 4), ARRAY['t' || (i % 3), 'all'] FROM generate_series(1, 24) i;

-- Parameter errors, before anything is stored.
SELECT * FROM pgrec.train('nc', 'nc_r', 'ncf', params => '{"loss": "softmax"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('nc', 'nc_r', 'ncf', params => '{"loss": "hinge"}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('nc', 'nc_r', 'ncf', params => '{"layers": []}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('nc', 'nc_r', 'ncf', params => '{"layers": [16, 0]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('nc', 'nc_r', 'ncf', params => '{"tower_layers": [16]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.train('nc', 'nc_r', 'ncf', rating_col => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS versions FROM pgrec.models WHERE model = 'nc';

-- Without features: the vectors are the id embeddings, the network is stored with the version.
SELECT algorithm, n_users, n_items, metrics->>'loss' AS loss, metrics ? 'item_embedding_mean_cosine' AS has_health
FROM pgrec.train('nc', 'nc_r', 'ncf', params => '{"epochs": 5, "factors": 6, "layers": [12, 4], "threads": 1}');
SELECT name, rows, cols FROM pgrec.model_tensors t JOIN pgrec.model_versions v ON v.id = t.version_id
WHERE v.model = 'nc' ORDER BY name;
SELECT count(*) AS items, bool_and(cardinality(embedding) = 6) AS six_values FROM pgrec.item_embeddings('nc');
-- recommend scores every item through the network (in parallel): its scores are predict's
-- (before clipping to the rating range), best first, seen items left out unless asked.
SELECT count(*) AS n, bool_and(abs(r.score - pgrec.predict('nc', 4, r.item_id)) < 1e-4) AS same_as_predict
FROM pgrec.recommend('nc', 4, 50, false) r WHERE r.score BETWEEN 1 AND 5;
SELECT count(*) AS unseen FROM pgrec.recommend('nc', 4, 50);
SELECT bool_and(score >= next) AS best_first FROM (
  SELECT score, lead(score, 1, '-Infinity') OVER (ORDER BY ord) AS next
  FROM pgrec.recommend('nc', 4, 50, false) WITH ORDINALITY AS t(item_id, score, ord)) s;
SELECT count(*) AS neighbours FROM pgrec.similar_items('nc', 3, 5);
-- Serving fails loudly, not wrongly, when the stored network is damaged.
UPDATE pgrec.model_tensors SET rows = 1, cols = 1, data = '{1}'
WHERE name = 'joint.layer1.weight' AND version_id = (SELECT id FROM pgrec.model_versions WHERE model = 'nc');
\c
SET client_min_messages = warning;
-- (the message names the version id, which depends on the tests before this one)
\set VERBOSITY sqlstate
SELECT pgrec.predict('nc', 4, 3);
\set VERBOSITY default

-- With item features: cold items get vectors and predictions; the same seed gives the same
-- model with 1 or 2 threads.
SELECT version, metrics->>'n_cold_items' AS cold_items FROM pgrec.train('nc', 'nc_r', 'ncf',
  params => '{"epochs": 5, "factors": 6, "layers": [12], "threads": 1}', item_features => 'nc_items');
SELECT pgrec.predict('nc', 1, 23) BETWEEN 1 AND 5 AS cold_item_prediction_in_range;
SELECT count(*) AS cold_recommendable FROM pgrec.recommend('nc', 1, 100) WHERE item_id > 20;
SELECT version FROM pgrec.train('nc', 'nc_r', 'ncf',
  params => '{"epochs": 5, "factors": 6, "layers": [12], "threads": 2}', item_features => 'nc_items');
SELECT count(*) AS items, count(*) FILTER (WHERE a.embedding = b.embedding AND a.bias = b.bias) AS identical
FROM pgrec.item_embeddings('nc', 2) a JOIN pgrec.item_embeddings('nc', 3) b USING (item_id);
-- fold_in_items encodes items through the stored item tower: refolded, a cold item (23) and a
-- trained one (5) are as training encoded them; a new item scores through the network.
CREATE TEMP TABLE nc_before AS SELECT item_id, embedding, bias FROM pgrec.item_embeddings('nc');
SELECT pgrec.fold_in_items('nc', 'SELECT 1 AS user_id, i AS item_id, 4.0::real AS rating
  FROM unnest(ARRAY[5, 23]) i') AS refolded;
SELECT count(*) FILTER (WHERE a.embedding = b.embedding AND a.bias = b.bias) AS identical
FROM nc_before a JOIN pgrec.item_embeddings('nc') b USING (item_id) WHERE item_id IN (5, 23);
INSERT INTO nc_items SELECT 99, genre, tags FROM nc_items WHERE item_id = 22;
SELECT pgrec.fold_in_items('nc', 'SELECT user_id, item_id, rating FROM nc_r WHERE false') AS new_items;
SELECT pgrec.predict('nc', 1, 99) = pgrec.predict('nc', 1, 22) AS scored_as_its_twin;

-- bce with sampled negatives on implicit rows; evaluate reports AUC (held-out even items are
-- the positives, odd ones the negatives).
SELECT metrics->>'loss' AS loss FROM pgrec.train('nc_bce', 'SELECT user_id, item_id FROM nc_r',
  'ncf', rating_col => NULL, params => '{"loss": "bce", "epochs": 3, "factors": 4, "layers": [8]}');
SELECT count(*) AS recommended FROM pgrec.recommend('nc_bce', 1, 3);
SELECT (e->>'auc')::float8 BETWEEN 0 AND 1 AS auc_in_range, e ? 'rmse' AS has_rmse
FROM pgrec.evaluate('nc_bce', 'SELECT u AS user_id, i AS item_id, 5 AS rating
  FROM generate_series(1, 30) u, generate_series(1, 20) i WHERE (u + i) % 3 = 0 AND i % 2 = 0') e;
SELECT pgrec.drop_model('nc'), pgrec.drop_model('nc_bce');
DROP TABLE nc_r, nc_items;
