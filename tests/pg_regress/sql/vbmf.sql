-- vbmf: variational Bayes MF with its priors and noise learned. On MovieLens-100K u1 it must
-- beat the bias-only baseline it contains and learn a noise close to what it leaves; it
-- serves like every factor model; new users and items fold in with the priors and noise it
-- learned (stored as the version's fold.* tensors), and its explanations are exact.
SET client_min_messages = warning;
SELECT model, n_users, n_items, n_interactions
FROM pgrec.train('vb_u1', 'ml100k.u1_base', 'vbmf', params => '{"factors": 8, "epochs": 30}');
SELECT pgrec.evaluate('vb_u1', 'ml100k.u1_test') AS e \gset
SELECT (:'e'::jsonb->>'rmse')::float8 < 0.94 AS u1_rmse_below_094,
       (:'e'::jsonb->>'n_rows')::int AS n_rows;
SELECT (metrics->>'noise_std')::float8 BETWEEN 0.80 AND 0.95 AS noise_learned,
       (metrics->>'active_factors')::int BETWEEN 1 AND 8 AS active_factors,
       (metrics->>'user_bias_std')::float8 BETWEEN 0.2 AND 0.6 AS user_bias_spread,
       (metrics->>'item_bias_std')::float8 BETWEEN 0.2 AND 0.8 AS item_bias_spread,
       params->>'factors' AS factors
FROM pgrec.models WHERE model = 'vb_u1';
-- the model serves: predictions on the rating scale, recommendations, similar items
SELECT pgrec.predict('vb_u1', 1::bigint, 2::bigint) BETWEEN 1 AND 5 AS predict_in_range;
SELECT count(*) AS recommended FROM pgrec.recommend('vb_u1', 1::bigint, 10);
SELECT count(*) AS similar FROM pgrec.similar_items('vb_u1', 1::bigint, 5);
-- retrain replays it
SELECT version, algorithm FROM pgrec.retrain('vb_u1');
-- what fold-in reads: each side's prior (mean and variance of the 8 factors and the bias) and
-- the noise variance, the square of metrics.noise_std
SELECT t.name, t.rows, t.cols
FROM pgrec.model_tensors t JOIN pgrec.model_versions v ON v.id = t.version_id
WHERE v.model = 'vb_u1' AND v.active ORDER BY t.name;
SELECT abs(sqrt(t.data[1]) - (v.metrics->>'noise_std')::float8) < 1e-5 AS noise_var_stored
FROM pgrec.model_tensors t JOIN pgrec.model_versions v ON v.id = t.version_id
WHERE v.model = 'vb_u1' AND v.active AND t.name = 'fold.noise_var';
-- a new user with user 1's training rows folds in next to user 1: the same top items, and
-- predictions within 0.1 of user 1's on average (fold-in sees the items' means, training also
-- their uncertainty, so the folded vector is a little less shrunk)
SELECT pgrec.fold_in('vb_u1', 'SELECT user_id + 100000 AS user_id, item_id, rating FROM ml100k.u1_base WHERE user_id = 1') AS folded;
SELECT count(*) AS same_top5
FROM pgrec.recommend('vb_u1', 100001::bigint, 5) a JOIN pgrec.recommend('vb_u1', 1::bigint, 10) b USING (item_id);
SELECT avg(abs(pgrec.predict('vb_u1', 100001::bigint, i) - pgrec.predict('vb_u1', 1::bigint, i))) < 0.1 AS predicts_as_user_1
FROM generate_series(1, 1682) i;
-- a basket folds in
SELECT count(*) AS basket_recommended FROM pgrec.recommend_for_items('vb_u1', ARRAY[1, 2, 3]::bigint[], 5);
-- a new item with item 50's training rows folds in next to item 50, with the item prior
SELECT pgrec.fold_in_items('vb_u1', 'SELECT user_id, item_id + 100000 AS item_id, rating FROM ml100k.u1_base WHERE item_id = 50') AS items_folded;
SELECT item_id AS nearest_to_new_item FROM pgrec.similar_items('vb_u1', 100050::bigint, 1);
SELECT abs(pgrec.predict('vb_u1', 7::bigint, 100050::bigint) - pgrec.predict('vb_u1', 7::bigint, 50::bigint)) < 0.1 AS predicts_as_item_50;
-- exact explanations: the rows add up to the score of the user's vector solved from its rows,
-- which is the vector user 100001 was folded in with
SELECT count(*) > 1 AS rows, bool_and(exact) AS exact,
       abs(sum(contribution) - min(score)) < 1e-3 AS adds_up,
       abs(min(score) - (SELECT score FROM pgrec.score('vb_u1', 100001::bigint, ARRAY[100]::bigint[]))) < 1e-3 AS score_of_the_folded_user
FROM pgrec.explain('vb_u1', 1::bigint, 100::bigint, 5);
-- bad params name the parameter
SELECT * FROM pgrec.train('vb_bad', 'ml100k.u1_base', 'vbmf', params => '{"factors": 1000}');
SELECT * FROM pgrec.train('vb_bad', 'ml100k.u1_base', 'vbmf', params => '{"regularization": 0.1}');
SELECT pgrec.drop_model('vb_u1');
