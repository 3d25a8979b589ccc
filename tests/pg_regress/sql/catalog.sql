-- Versions, activation, history, drop.
SET client_min_messages = warning;
SELECT model, version FROM pgrec.train('cat', 'tiny', params => '{"factors": 4, "epochs": 3, "seed": 1}');
SELECT pgrec.predict('cat', 1, 2) AS v1_prediction \gset
SELECT model, version FROM pgrec.train('cat', 'tiny', params => '{"factors": 4, "epochs": 4, "seed": 2}');
-- the new version is active, the old one is kept
SELECT model, version, algorithm, active, n_users, n_items, n_interactions, owner = current_user AS mine,
       params->>'epochs' AS epochs, params ? 'learning_rate' AS full_params, metrics ? 'train_rmse' AS has_rmse
FROM pgrec.models WHERE model = 'cat' ORDER BY version;
-- serving switched to version 2 in this backend (its cache was keyed by version)
SELECT pgrec.predict('cat', 1, 2) <> :v1_prediction AS prediction_changed;
-- older versions stay readable
SELECT count(*) FROM pgrec.user_embeddings('cat', version => 1);
SELECT count(*) FROM pgrec.user_embeddings('cat', version => 3);
\echo :LAST_ERROR_SQLSTATE
-- one history row per epoch, RMSE decreasing over these few epochs
SELECT v.version, count(*) AS epochs, bool_and(h.train_rmse > 0) AS positive
FROM pgrec.training_history h JOIN pgrec.model_versions v ON v.id = h.version_id
WHERE v.model = 'cat' GROUP BY 1 ORDER BY 1;
-- the same seed and parameters give the same model, whatever the thread count
SELECT model, version FROM pgrec.train('det1', 'tiny', params => '{"factors": 4, "epochs": 5, "threads": 1}');
SELECT model, version FROM pgrec.train('det4', 'tiny', params => '{"factors": 4, "epochs": 5, "threads": 4}');
SELECT count(*) AS differing_users FROM pgrec.user_embeddings('det1') a JOIN pgrec.user_embeddings('det4') b USING (user_id)
WHERE a.embedding <> b.embedding OR a.bias <> b.bias;
-- ... and whatever order the source returns its rows in (a distributed table, a table after
-- UPDATE or CLUSTER): users and items are numbered in key order. The same rows backwards and
-- shuffled give the same model; so do they for ials, which adds up repeated rows.
SELECT model, version FROM pgrec.train('det_desc', 'SELECT * FROM tiny ORDER BY user_id DESC, item_id DESC', params => '{"factors": 4, "epochs": 5, "threads": 1}');
SELECT count(*) AS users, count(*) FILTER (WHERE a.embedding = b.embedding AND a.bias = b.bias) AS identical
FROM pgrec.user_embeddings('det1') a JOIN pgrec.user_embeddings('det_desc') b USING (user_id);
SELECT count(*) AS items, count(*) FILTER (WHERE a.embedding = b.embedding AND a.bias = b.bias) AS identical
FROM pgrec.item_embeddings('det1') a JOIN pgrec.item_embeddings('det_desc') b USING (item_id);
SET client_min_messages = error;
SELECT model, version FROM pgrec.train('det_ials_a', 'SELECT user_id, item_id FROM tiny UNION ALL SELECT user_id, item_id FROM tiny WHERE rating > 3', 'ials', rating_col => NULL, params => '{"factors": 4, "epochs": 3}');
SELECT model, version FROM pgrec.train('det_ials_b', 'SELECT * FROM (SELECT user_id, item_id FROM tiny UNION ALL SELECT user_id, item_id FROM tiny WHERE rating > 3) s ORDER BY md5(user_id || ''/'' || item_id)', 'ials', rating_col => NULL, params => '{"factors": 4, "epochs": 3}');
SELECT count(*) AS items, count(*) FILTER (WHERE a.embedding = b.embedding) AS identical
FROM pgrec.item_embeddings('det_ials_a') a JOIN pgrec.item_embeddings('det_ials_b') b USING (item_id);
SET client_min_messages = warning;
SELECT pgrec.drop_model('det_desc'), pgrec.drop_model('det_ials_a'), pgrec.drop_model('det_ials_b');
-- validation_fraction holds rows out, reports validation RMSE and stops early
SELECT (metrics->>'n_validation')::int > 0 AS held_out, metrics ? 'validation_rmse' AS has_validation,
       (metrics->>'epochs_run')::int < 200 AS stopped_early
FROM pgrec.train('val', 'tiny', params => '{"factors": 8, "epochs": 200, "validation_fraction": 0.2, "patience": 2, "regularization": 0, "optimizer": "sgd", "learning_rate": 0.05, "learning_rate_decay": 1}');
SELECT count(*) > 0 AS has_validation_history FROM pgrec.training_history h
JOIN pgrec.model_versions v ON v.id = h.version_id WHERE v.model = 'val' AND h.validation_rmse IS NOT NULL;
-- drop_model removes every version, factor and history row
SELECT pgrec.drop_model('cat');
SELECT count(*) FROM pgrec.models WHERE model = 'cat';
SELECT count(*) FROM pgrec.user_factors f LEFT JOIN pgrec.model_versions v ON v.id = f.version_id WHERE v.id IS NULL;
SELECT * FROM pgrec.recommend('cat', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.drop_model('det1'), pgrec.drop_model('det4'), pgrec.drop_model('val');
