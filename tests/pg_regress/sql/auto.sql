-- auto: mf or vbmf, chosen per data set on a validation split. On MovieLens-100K u1 mf's
-- implicit terms win and auto is mf; on generated data of known rank vbmf's learned priors win
-- and auto is vbmf. The version stores the winner (what serving, fold-in and retrain see) and
-- each candidate's validation RMSE in metrics.auto.
SET client_min_messages = warning;
SELECT model, algorithm, n_users, n_items
FROM pgrec.train('auto_u1', 'ml100k.u1_base', 'auto', params => '{"seed": 1}');
SELECT algorithm, params ? 'learning_rate' AS mf_params, metrics->'auto'->>'algorithm' AS chosen,
       jsonb_array_length(metrics->'auto'->'candidates') AS candidates,
       (metrics->'auto'->'candidates'->0->>'validation')::float8
         < (metrics->'auto'->'candidates'->1->>'validation')::float8 AS mf_validates_better,
       metrics->'auto'->'candidates'->0->>'algorithm' AS first,
       metrics->'auto'->'candidates'->1->>'algorithm' AS second
FROM pgrec.models WHERE model = 'auto_u1';
SELECT pgrec.evaluate('auto_u1', 'ml100k.u1_test') AS e \gset
SELECT (:'e'::jsonb->>'rmse')::float8 <= 0.893 AS u1_rmse_at_most_0893;
-- retrain replays the winner without choosing again
SELECT version, algorithm FROM pgrec.retrain('auto_u1');
SELECT metrics ? 'auto' AS chose_again FROM pgrec.models WHERE model = 'auto_u1' AND active;
-- Rank 4, noise 0.4, 12 ratings per user: auto is vbmf, and predicts held-out rows better
-- than mf's defaults
CREATE TABLE auto_synth AS SELECT * FROM pgrec.synthetic_ratings(1500, 600, 18000, 4, 0.4, 5);
CREATE VIEW auto_synth_train AS SELECT * FROM auto_synth WHERE (user_id * 7 + item_id) % 10 <> 0;
CREATE VIEW auto_synth_test AS SELECT * FROM auto_synth WHERE (user_id * 7 + item_id) % 10 = 0;
SELECT model, algorithm FROM pgrec.train('auto_synth', 'auto_synth_train', 'auto', params => '{"factors": 8}');
SELECT pgrec.train('auto_synth_mf', 'auto_synth_train', 'mf') IS NOT NULL AS mf_trained;
SELECT (pgrec.evaluate('auto_synth', 'auto_synth_test')->>'rmse')::float8
     < (pgrec.evaluate('auto_synth_mf', 'auto_synth_test')->>'rmse')::float8 AS auto_beats_mf_defaults;
-- the winner serves and folds in as any vbmf model
SELECT count(*) AS recommended FROM pgrec.recommend('auto_synth', 1::bigint, 5);
SELECT pgrec.fold_in('auto_synth', 'SELECT user_id + 100000 AS user_id, item_id, rating FROM auto_synth_train WHERE user_id = 1') AS folded;
-- params only one candidate takes: the other is left out, with why
SELECT algorithm FROM pgrec.train('auto_lr', 'auto_synth_train', 'auto', params => '{"learning_rate": 0.02, "epochs": 3}');
SELECT metrics->'auto'->'candidates'->0->>'algorithm' AS left_out,
       metrics->'auto'->'candidates'->0->>'skipped' AS why
FROM pgrec.models WHERE model = 'auto_lr';
-- errors: params no candidate takes, no rating column, row weights (vbmf has none)
SELECT * FROM pgrec.train('auto_bad', 'auto_synth_train', 'auto', params => '{"no_such": 1}');
SELECT * FROM pgrec.train('auto_bad', 'auto_synth_train', 'auto', rating_col => NULL);
SELECT * FROM pgrec.train('auto_bad', 'auto_synth_train', 'auto', params => '{"half_life": "30 days", "time_col": "user_id"}');
SELECT count(*) AS nothing_left FROM pgrec.models WHERE model = 'auto_bad';
-- a role that cannot read the source cannot train from it, and cannot read the models either
CREATE ROLE auto_stranger;
SET ROLE auto_stranger;
SELECT * FROM pgrec.train('auto_x', 'auto_synth_train', 'auto');
SELECT count(*) AS sees_models FROM pgrec.models WHERE model LIKE 'auto%';
RESET ROLE;
DROP ROLE auto_stranger;
SELECT pgrec.drop_model(m) FROM unnest(ARRAY['auto_u1', 'auto_synth', 'auto_synth_mf', 'auto_lr']) m;
DROP VIEW auto_synth_train, auto_synth_test;
DROP TABLE auto_synth;
