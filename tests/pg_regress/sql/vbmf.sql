-- vbmf: variational Bayes MF with its priors and noise learned. On MovieLens-100K u1 it must
-- beat the bias-only baseline it contains and learn a noise close to what it leaves; it
-- serves like every factor model; it cannot fold in users.
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
-- new users and items cannot be folded in
SELECT * FROM pgrec.recommend_for_items('vb_u1', ARRAY[1, 2, 3]::bigint[], 5);
SELECT pgrec.fold_in_items('vb_u1', 'ml100k.u1_test');
-- bad params name the parameter
SELECT * FROM pgrec.train('vb_bad', 'ml100k.u1_base', 'vbmf', params => '{"factors": 1000}');
SELECT * FROM pgrec.train('vb_bad', 'ml100k.u1_base', 'vbmf', params => '{"regularization": 0.1}');
SELECT pgrec.drop_model('vb_u1');
