-- Hashes of models trained at fixed seeds (factors, seen items, tensors, history, params and
-- metrics without timings). Run before and after a change that must not change behaviour and diff
-- the outputs (same machine: the SIMD kernels differ between CPUs). Needs the ml100k schema:
--   ./scripts/create_db.sh pgrec_hash && ./scripts/psql.sh -d pgrec_hash -f benches/model_hashes.sql
SET client_min_messages = warning;
DROP TABLE IF EXISTS h_r, h_items, h_users;
CREATE TABLE h_r AS SELECT user_id, item_id, rating FROM ml100k.u1_base WHERE user_id <= 300;
CREATE TABLE h_items AS SELECT movie_id AS item_id, release_year, genres FROM ml100k.movies;
SELECT 1 FROM pgrec.train('h_mf', 'h_r', params => '{"seed": 5, "threads": 2, "epochs": 8}');
SELECT 1 FROM pgrec.train('h_mfv', 'h_r', params => '{"seed": 5, "threads": 2, "epochs": 30, "validation_fraction": 0.1, "patience": 2}');
SELECT 1 FROM pgrec.train('h_tt', 'h_r', 'two_tower', item_features => 'h_items', params => '{"seed": 5, "threads": 2, "epochs": 3}');
SELECT 1 FROM pgrec.train('h_sm', 'h_r', 'two_tower', item_features => 'h_items', params => '{"seed": 5, "threads": 2, "epochs": 3, "loss": "softmax"}');
SELECT 1 FROM pgrec.train('h_ncf', 'h_r', 'ncf', params => '{"seed": 5, "threads": 2, "epochs": 3, "loss": "bce"}');
SELECT v.model,
  md5((SELECT string_agg(idx || ':' || coalesce(user_id::text, user_key) || ':' || bias || ':' || embedding::text || ':' || seen_items::text, '|' ORDER BY idx) FROM pgrec.user_factors WHERE version_id = v.id)) AS users,
  md5((SELECT string_agg(idx || ':' || coalesce(item_id::text, item_key) || ':' || bias || ':' || embedding::text, '|' ORDER BY idx) FROM pgrec.item_factors WHERE version_id = v.id)) AS items,
  md5(coalesce((SELECT string_agg(name || ':' || data::text, '|' ORDER BY name) FROM pgrec.model_tensors WHERE version_id = v.id), '')) AS tensors,
  md5((SELECT string_agg(epoch || ':' || train_loss || ':' || coalesce(validation_rmse::text, ''), '|' ORDER BY epoch) FROM pgrec.training_history WHERE version_id = v.id)) AS history,
  md5(v.params::text || coalesce(v.features::text, '') || v.global_mean) AS params,
  md5((v.metrics - 'load_seconds' - 'fit_seconds' - 'seconds_per_epoch' - 'save_seconds')::text) AS metrics
FROM pgrec.model_versions v WHERE v.model LIKE 'h\_%' ORDER BY 1;
SELECT pgrec.drop_model(m) FROM unnest(ARRAY['h_mf','h_mfv','h_tt','h_sm','h_ncf']) m;
