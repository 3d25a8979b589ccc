-- two_tower and ncf accuracy on MovieLens-100K in SQL (seeded random 80/20 splits 1-3, features:
-- users age/gender/occupation, items genres/release_year). Run: scripts/psql.sh -d pgrec -f benches/two_tower_ml100k.sql
SET client_min_messages = warning;
CREATE TEMP VIEW tt_users AS SELECT user_id, age, gender, occupation FROM ml100k.users;
CREATE TEMP VIEW tt_items AS SELECT movie_id AS item_id, genres, release_year FROM ml100k.movies;
CREATE TEMP TABLE results (seed int, setting text, metric text, value float8, fit_seconds float8);
DO $$
DECLARE s int; m jsonb; e jsonb; p text; setting text; feats boolean;
BEGIN
  FOR s IN 1..3 LOOP
    FOREACH p IN ARRAY ARRAY['{}', '{"loss": "softmax"}', '{"loss": "softmax", "logq_correction": false}', '{"loss": "bce"}'] LOOP
      SELECT metrics INTO m FROM pgrec.train('bench_tt', format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s),
        'two_tower', params => p::jsonb, user_features => 'tt_users', item_features => 'tt_items');
      e := pgrec.evaluate('bench_tt', format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND is_test', s));
      INSERT INTO results VALUES
        (s, p, 'rmse', (e->>'rmse')::float8, (m->>'fit_seconds')::float8),
        (s, p, 'precision@10', (e->>'precision_at_k')::float8, NULL),
        (s, p, 'ndcg@10', (e->>'ndcg_at_k')::float8, NULL),
        (s, p, 'auc', (e->>'auc')::float8, NULL),
        (s, p, 'item mean cosine', (m->>'item_embedding_mean_cosine')::float8, NULL),
        (s, p, 'seconds/epoch', (m->>'seconds_per_epoch')::float8, NULL);
      PERFORM pgrec.drop_model('bench_tt');
    END LOOP;
    -- ncf, with the same features and without any.
    FOREACH p IN ARRAY ARRAY['{}', '{"loss": "bce"}'] LOOP
      FOREACH feats IN ARRAY ARRAY[true, false] LOOP
        setting := 'ncf ' || p || CASE WHEN feats THEN ' features' ELSE ' ids only' END;
        SELECT metrics INTO m FROM pgrec.train('bench_tt', format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s),
          'ncf', params => p::jsonb, user_features => CASE WHEN feats THEN 'tt_users' END,
          item_features => CASE WHEN feats THEN 'tt_items' END);
        e := pgrec.evaluate('bench_tt', format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND is_test', s));
        INSERT INTO results VALUES
          (s, setting, 'rmse', (e->>'rmse')::float8, (m->>'fit_seconds')::float8),
          (s, setting, 'precision@10', (e->>'precision_at_k')::float8, NULL),
          (s, setting, 'ndcg@10', (e->>'ndcg_at_k')::float8, NULL),
          (s, setting, 'auc', (e->>'auc')::float8, NULL),
          (s, setting, 'item mean cosine', (m->>'item_embedding_mean_cosine')::float8, NULL),
          (s, setting, 'seconds/epoch', (m->>'seconds_per_epoch')::float8, NULL);
        PERFORM pgrec.drop_model('bench_tt');
      END LOOP;
    END LOOP;
  END LOOP;
END $$;
SELECT setting, metric, round(avg(value)::numeric, 4) AS mean, round(min(value)::numeric, 4) AS min,
       round(max(value)::numeric, 4) AS max
FROM results WHERE value IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2;
-- Cold start: all ratings of 10% of the movies held out; two_tower and ncf (default id dropout)
-- and two_tower without id dropout, against the global mean plus a shrunk user bias.
CREATE TEMP TABLE cold AS SELECT movie_id FROM ml100k.movies WHERE hashint4(movie_id) % 10 = 0;
CREATE TEMP VIEW cold_train AS SELECT * FROM ml100k.ratings r WHERE item_id NOT IN (SELECT movie_id FROM cold);
SELECT count(*) AS cold_items, (SELECT count(*) FROM ml100k.ratings WHERE item_id IN (SELECT movie_id FROM cold)) AS cold_ratings FROM cold;
CREATE TEMP TABLE cold_models (model text, algorithm text, params jsonb);
INSERT INTO cold_models VALUES ('bench_cold_tt', 'two_tower', '{}'), ('bench_cold_tt_no_id_dropout', 'two_tower', '{"id_dropout": 0}'),
  ('bench_cold_ncf', 'ncf', '{}'), ('bench_cold_ncf_no_id_dropout', 'ncf', '{"id_dropout": 0}');
SELECT c.model, t.n_items, t.metrics->>'n_cold_items' AS cold
FROM cold_models c, pgrec.train(c.model, 'cold_train', c.algorithm, params => c.params, user_features => 'tt_users', item_features => 'tt_items') t;
CREATE TEMP TABLE cold_test AS
  WITH mu AS (SELECT avg(rating) AS m FROM cold_train),
       ub AS (SELECT user_id, sum(rating - (SELECT m FROM mu)) / (count(*) + 5) AS b FROM cold_train GROUP BY user_id)
  SELECT r.user_id, r.item_id, r.rating, (SELECT m FROM mu) AS mean, (SELECT m FROM mu) + coalesce(ub.b, 0) AS mean_plus_user_bias
  FROM ml100k.ratings r JOIN cold c ON c.movie_id = r.item_id LEFT JOIN ub USING (user_id);
SELECT 'global mean' AS predictor, round(sqrt(avg((mean - rating) ^ 2))::numeric, 4) AS cold_rmse FROM cold_test
UNION ALL SELECT 'global mean + user bias', round(sqrt(avg((mean_plus_user_bias - rating) ^ 2))::numeric, 4) FROM cold_test
UNION ALL SELECT c.model, round(sqrt(avg((pgrec.predict(c.model, t.user_id, t.item_id) - t.rating) ^ 2))::numeric, 4)
          FROM cold_models c, cold_test t GROUP BY c.model;
WITH pairs AS (SELECT cm.model, c.movie_id AS a, s.item_id AS b FROM cold_models cm, cold c, pgrec.similar_items(cm.model, c.movie_id, 10) s)
SELECT model, round(avg((ma.genres && mb.genres)::int)::numeric, 3) AS similar_share_a_genre
FROM pairs JOIN ml100k.movies ma ON ma.movie_id = a JOIN ml100k.movies mb ON mb.movie_id = b GROUP BY model
UNION ALL
SELECT 'any two movies', round(avg((ma.genres && mb.genres)::int)::numeric, 3)
FROM cold c JOIN ml100k.movies ma ON ma.movie_id = c.movie_id JOIN ml100k.movies mb ON mb.movie_id <> c.movie_id;
SELECT pgrec.drop_model(model) FROM cold_models;
