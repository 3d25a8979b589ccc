-- two_tower on MovieLens-100K with features (users: age, gender, occupation; items: genres,
-- release_year), seeded random 80/20 split 1, default parameters.
SET client_min_messages = warning;
\set softmax_params '{"loss": "softmax"}'
CREATE TEMP VIEW tt_users AS SELECT user_id, age, gender, occupation FROM ml100k.users;
CREATE TEMP VIEW tt_items AS SELECT movie_id AS item_id, genres, release_year FROM ml100k.movies;
CREATE TEMP VIEW tt_train AS SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test;
CREATE TEMP VIEW tt_test AS SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND is_test;
-- mse: bar RMSE <= 0.915, item embeddings spread out (mean cosine < 0.5)
SELECT n_users, n_items, (metrics->>'item_embedding_mean_cosine')::float8 < 0.5 AS not_collapsed
FROM pgrec.train('ml_tt', 'tt_train', 'two_tower', user_features => 'tt_users', item_features => 'tt_items');
SELECT (e->>'rmse')::float8 <= 0.915 AS rmse_bar FROM pgrec.evaluate('ml_tt', 'tt_test') e;
-- softmax on ratings >= 4: precision@10 bar 0.22 (most-popular scores 0.14)
SELECT n_items FROM pgrec.train('ml_tt_soft', 'tt_train', 'two_tower',
  params => :'softmax_params', user_features => 'tt_users', item_features => 'tt_items');
SELECT (e->>'precision_at_k')::float8 >= 0.22 AS precision_bar, (e->>'auc')::float8 > 0.85 AS auc_bar
FROM pgrec.evaluate('ml_tt_soft', 'tt_test') e;
-- Cold start: every rating of 10% of the movies is held out. Their predictions (two_tower and
-- ncf) beat the global mean plus user bias, and their similar movies share a genre more often
-- than random ones.
CREATE TEMP TABLE cold AS SELECT movie_id FROM ml100k.movies WHERE hashint4(movie_id) % 10 = 0;
CREATE TEMP VIEW cold_train AS SELECT * FROM ml100k.ratings r WHERE item_id NOT IN (SELECT movie_id FROM cold);
SELECT n_items FROM pgrec.train('ml_tt_cold', 'cold_train', 'two_tower', user_features => 'tt_users', item_features => 'tt_items');
SELECT n_items FROM pgrec.train('ml_ncf_cold', 'cold_train', 'ncf', user_features => 'tt_users', item_features => 'tt_items');
CREATE TEMP TABLE cold_test AS
  WITH mu AS (SELECT avg(rating) AS m FROM cold_train),
       ub AS (SELECT user_id, sum(rating - (SELECT m FROM mu)) / (count(*) + 5) AS b FROM cold_train GROUP BY user_id)
  SELECT r.user_id, r.item_id, r.rating, (SELECT m FROM mu) + coalesce(ub.b, 0) AS baseline
  FROM ml100k.ratings r JOIN cold c ON c.movie_id = r.item_id LEFT JOIN ub USING (user_id);
SELECT m AS model, sqrt(avg((pgrec.predict(m, user_id, item_id) - rating) ^ 2)) < sqrt(avg((baseline - rating) ^ 2))
       AS cold_beats_user_bias_baseline
FROM cold_test, unnest(ARRAY['ml_tt_cold', 'ml_ncf_cold']) AS m GROUP BY m ORDER BY m;
WITH pairs AS (
  SELECT c.movie_id AS a, s.item_id AS b FROM cold c, pgrec.similar_items('ml_tt_cold', c.movie_id, 10) s),
  rnd AS (SELECT c.movie_id AS a, m.movie_id AS b FROM cold c
          JOIN ml100k.movies m ON hashint4(m.movie_id + c.movie_id) % 160 = 0 AND m.movie_id <> c.movie_id),
  share AS (SELECT 'similar' AS k, avg((ma.genres && mb.genres)::int) AS s FROM pairs JOIN ml100k.movies ma ON ma.movie_id = a JOIN ml100k.movies mb ON mb.movie_id = b
            UNION ALL
            SELECT 'random', avg((ma.genres && mb.genres)::int) FROM rnd JOIN ml100k.movies ma ON ma.movie_id = a JOIN ml100k.movies mb ON mb.movie_id = b)
SELECT (SELECT s FROM share WHERE k = 'similar') > (SELECT s FROM share WHERE k = 'random') AS cold_neighbours_share_genres;
SELECT pgrec.drop_model('ml_tt'), pgrec.drop_model('ml_tt_soft'), pgrec.drop_model('ml_tt_cold'), pgrec.drop_model('ml_ncf_cold');
-- ncf, default parameters, same split and features: its item vectors stay spread out, and it
-- beats a baseline of the global mean plus shrunk user and item biases.
SELECT (metrics->>'item_embedding_mean_cosine')::float8 < 0.5 AS ncf_not_collapsed
FROM pgrec.train('ml_ncf', 'tt_train', 'ncf', user_features => 'tt_users', item_features => 'tt_items');
WITH mu AS (SELECT avg(rating) AS m FROM tt_train),
     ib AS (SELECT item_id, sum(rating - m) / (count(*) + 25) AS b FROM tt_train, mu GROUP BY item_id),
     ub AS (SELECT user_id, sum(rating - m - ib.b) / (count(*) + 10) AS b
            FROM tt_train JOIN ib USING (item_id), mu GROUP BY user_id),
     baseline AS (SELECT sqrt(avg((m + coalesce(ub.b, 0) + coalesce(ib.b, 0) - rating) ^ 2)) AS rmse
                  FROM tt_test LEFT JOIN ub USING (user_id) LEFT JOIN ib USING (item_id), mu)
SELECT (e->>'rmse')::float8 <= 0.93 AS ncf_rmse_bar, (e->>'rmse')::float8 < baseline.rmse AS ncf_beats_biases
FROM pgrec.evaluate('ml_ncf', 'tt_test') e, baseline;
SELECT pgrec.drop_model('ml_ncf');
