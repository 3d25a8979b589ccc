-- "tune": true (issue 14): trials of seeded candidate settings on a validation split, the
-- best third again at full epochs, the final model on every row with the winner's settings.
SET client_min_messages = warning;
SELECT version FROM pgrec.train('tuned_mf', 'ml100k.u1_base', params => '{"tune": true, "tune_trials": 4, "epochs": 30}');
SET client_min_messages = notice;
-- the search as recorded: 4 trials at 10 epochs, the best 2 at 30, then the final model
SELECT m->'tune'->'trials' AS trials, m->'tune'->'rungs' AS rungs,
       jsonb_array_length(m->'tune'->'results') AS results,
       (m->'tune'->>'final_epochs')::int BETWEEN 1 AND 30 AS final_epochs_ok,
       (m->>'best_epoch') = (m->'tune'->>'final_epochs') AS best_epoch_is_final,
       m ? 'validation_rmse' AS has_validation
FROM (SELECT metrics AS m FROM pgrec.model_versions WHERE model = 'tuned_mf') v;
-- every epoch of every trial and of the final model is in the history
SELECT count(*) = (SELECT (metrics->>'epochs_run')::int FROM pgrec.model_versions WHERE model = 'tuned_mf')
         AS history_complete,
       count(*) > 4 * 10 + 2 * 10 AS more_than_the_first_rung
FROM pgrec.training_history WHERE version_id = (SELECT id FROM pgrec.model_versions WHERE model = 'tuned_mf');
-- stored with the winner's settings (what the model is; retrain keeps them; the winner may be
-- the caller's own settings, {}); no tune key; the winner ranked first at the last rung
SELECT coalesce((SELECT bool_and(v.params -> w.key = w.value) FROM jsonb_each(v.metrics->'tune'->'winner') w), true) AS stored_winner,
       v.params->'tune' IS NULL AS no_tune_key,
       (SELECT r->'params' FROM jsonb_array_elements(v.metrics->'tune'->'results') r
        WHERE (r->>'epochs')::int = 30 AND (r->>'rank')::int = 1) = v.metrics->'tune'->'winner' AS winner_ranked_first
FROM pgrec.model_versions v WHERE v.model = 'tuned_mf';
SELECT (params->>'epochs')::int = (metrics->'tune'->>'final_epochs')::int AS trained_final_epochs
FROM pgrec.model_versions WHERE model = 'tuned_mf';
-- no worse than the defaults on the held-out fold (u1 test RMSE 0.9086 for the defaults)
SELECT (pgrec.evaluate('tuned_mf', 'ml100k.u1_test')->>'rmse')::float8 < 0.915 AS tuned_u1_ok;
-- the same search and model again from the same seed
SET client_min_messages = warning;
SELECT version FROM pgrec.train('tuned_mf_again', 'ml100k.u1_base', params => '{"tune": true, "tune_trials": 4, "epochs": 30}');
SET client_min_messages = notice;
SELECT count(*) AS differing_vectors FROM pgrec.item_embeddings('tuned_mf') a
JOIN pgrec.item_embeddings('tuned_mf_again') b USING (item_id) WHERE a.embedding <> b.embedding;
SELECT a.metrics->'tune'->'winner' = b.metrics->'tune'->'winner' AS same_winner
FROM pgrec.model_versions a, pgrec.model_versions b WHERE a.model = 'tuned_mf' AND b.model = 'tuned_mf_again';

-- a ranking model tunes on ndcg@10; knobs the caller sets stay as given
SET client_min_messages = warning;
SELECT version FROM pgrec.train('tuned_ials', 'SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test',
                                'ials', params => '{"tune": true, "tune_trials": 3, "positive_threshold": 4, "factors": 32}');
SET client_min_messages = notice;
SELECT m ? 'validation_ndcg_at_10' AS tuned_on_ndcg,
       bool_and(r->'params' ? 'regularization' AND NOT r->'params' ? 'factors') FILTER (WHERE (r->>'rank')::int > 0 AND r->'params' <> '{}') AS factors_left_alone,
       (SELECT params->>'factors' FROM pgrec.model_versions WHERE model = 'tuned_ials') AS factors
FROM (SELECT metrics AS m FROM pgrec.model_versions WHERE model = 'tuned_ials') v, jsonb_array_elements(m->'tune'->'results') r
GROUP BY m;
SELECT (pgrec.evaluate('tuned_ials', 'SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND is_test')->>'precision_at_k')::float8 > 0.2
       AS tuned_ials_ranks;

-- errors name the bad value
SELECT pgrec.train('tune_bad', 'ml100k.u1_base', 'ease', params => '{"tune": true}');
SELECT pgrec.train('tune_bad', 'ml100k.u1_base', params => '{"tune": "yes"}');
SELECT pgrec.train('tune_bad', 'ml100k.u1_base', params => '{"tune_trials": 4}');
SELECT pgrec.train('tune_bad', 'ml100k.u1_base', params => '{"tune": true, "tune_trials": 1000}');
SELECT pgrec.train('tune_bad', 'ml100k.u1_base', params => '{"tune": true, "factor": 8}');
SELECT count(*) AS none_left FROM pgrec.model_versions WHERE model = 'tune_bad';

-- mf's defaults that depend on the data: the version records what its training used
-- (80,000 rows: the item-side implicit term on, the fixed penalty); keys given stay as given,
-- and retrain replays the recorded values
SET client_min_messages = warning;
SELECT version FROM pgrec.train('dd_mf', 'ml100k.u1_base', params => '{"epochs": 5}');
SELECT version FROM pgrec.train('dd_given', 'ml100k.u1_base', params => '{"epochs": 5, "implicit_items": false}');
SELECT version FROM pgrec.retrain('dd_mf');
SET client_min_messages = notice;
SELECT model, version, metrics->'data_defaults' AS data_defaults, params->'implicit_items' AS implicit_items,
       params->'implicit' AS implicit, params->'regularization' AS regularization
FROM pgrec.model_versions WHERE model IN ('dd_mf', 'dd_given') ORDER BY model, version;
SELECT count(*) AS differing_vectors FROM pgrec.item_embeddings('dd_mf', version => 1) a
JOIN pgrec.item_embeddings('dd_mf', version => 2) b USING (item_id) WHERE a.embedding <> b.embedding;
-- a tuned mf records the defaults its final training chose too
SELECT metrics->'data_defaults' AS tuned_data_defaults, params->'implicit_items' AS tuned_implicit_items
FROM pgrec.model_versions WHERE model = 'tuned_mf';

SET client_min_messages = warning;
SELECT pgrec.drop_model(m) FROM unnest(ARRAY['tuned_mf', 'tuned_mf_again', 'tuned_ials', 'dd_mf', 'dd_given']) m;
