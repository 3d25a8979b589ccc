-- A model at the previous release (0.2.0), filled the way 0.2.0's pgrec.train filled its catalog
-- (the 0.3.0 library trains only against a 0.3.0 catalog). Used by tests/upgrade/run.sh and
-- tests/package/run.sh.
SET client_min_messages = warning;
CREATE EXTENSION pgrec VERSION '0.2.0';
CREATE TABLE up_r AS SELECT u AS user_id, i AS item_id, (1 + (u * 7 + i * 3) % 5)::real AS rating
FROM generate_series(1, 40) u, generate_series(1, 25) i WHERE (u + i) % 3 <> 0;
INSERT INTO pgrec.model_owners (model, owner) VALUES ('up_mf', current_user::regrole);
INSERT INTO pgrec.model_versions (model, version, algorithm, params, metrics, source, user_col,
  item_col, rating_col, user_key_type, item_key_type, n_users, n_items, n_interactions, factors,
  global_mean, rating_min, rating_max, train_seconds, active)
VALUES ('up_mf', 1, 'mf', '{"factors": 3}', '{}', 'up_r', 'user_id', 'item_id', 'rating', 'bigint', 'bigint', 40, 25, 667, 3, 3.1, 1, 5, 0.5, true);
INSERT INTO pgrec.user_factors (version_id, idx, user_id, bias, embedding, seen_items)
SELECT v.id, u - 1, u, (u % 5) / 10.0 - 0.2, ARRAY[sin(u), cos(u), sin(2 * u)]::real[],
       ARRAY(SELECT i - 1 FROM generate_series(1, 25) i WHERE (u + i) % 3 <> 0 AND i % 2 = 0)
FROM pgrec.model_versions v, generate_series(1, 40) u;
INSERT INTO pgrec.item_factors (version_id, idx, item_id, bias, embedding)
SELECT v.id, i - 1, i, (i % 7) / 10.0 - 0.3, ARRAY[cos(i), sin(i * 2), cos(3 * i)]::real[]
FROM pgrec.model_versions v, generate_series(1, 25) i;
