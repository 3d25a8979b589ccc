-- Accuracy bars on MovieLens-100K with default parameters, and sanity of what users see.
SET client_min_messages = warning;
-- canonical u1.base / u1.test split: bar RMSE <= 0.925
SELECT model, version, n_users, n_items, n_interactions FROM pgrec.train('ml_u1', 'ml100k.u1_base');
SELECT pgrec.evaluate('ml_u1', 'ml100k.u1_test') AS e \gset
SELECT (:'e'::jsonb->>'rmse')::float8 <= 0.925 AS u1_rmse_bar,
       (:'e'::jsonb->>'n_rows')::int AS n_rows,
       (:'e'::jsonb->>'n_rows_unknown_user_or_item')::int AS unknown_rows,
       (:'e'::jsonb->>'precision_at_k')::float8 BETWEEN 0 AND 1 AS precision_in_range,
       (:'e'::jsonb->>'ndcg_at_k')::float8 BETWEEN 0 AND 1 AS ndcg_in_range;
-- seeded random 80/20 splits, mean of three seeds: bar RMSE <= 0.905
CREATE TEMP TABLE split_rmse (seed int, rmse float8);
DO $$
DECLARE s int;
BEGIN
  FOR s IN 1..3 LOOP
    PERFORM pgrec.train('ml_split_' || s,
      format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s));
    INSERT INTO split_rmse SELECT s, (pgrec.evaluate('ml_split_' || s,
      format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND is_test', s))->>'rmse')::float8;
  END LOOP;
END $$;
SELECT count(*) AS splits, avg(rmse) <= 0.905 AS random_split_rmse_bar FROM split_rmse;
-- ids map to the right rows: the Star Wars sequels are its nearest neighbours
SELECT count(*) AS sequels_in_top5 FROM pgrec.similar_items('ml_u1', 50, 5)
WHERE item_id IN (172, 181);  -- The Empire Strikes Back, Return of the Jedi
-- recommendations never repeat what user 1 rated in training, and are real movies
SELECT count(*) AS recommended, count(m.movie_id) AS known_movies,
       count(*) FILTER (WHERE r.item_id IN (SELECT item_id FROM ml100k.u1_base WHERE user_id = 1)) AS already_rated
FROM pgrec.recommend('ml_u1', 1, 10) r LEFT JOIN ml100k.movies m ON m.movie_id = r.item_id;
-- item embeddings are not collapsed onto one direction: mean pairwise cosine is small
WITH e AS (SELECT item_id, embedding FROM pgrec.item_embeddings('ml_u1') ORDER BY item_id LIMIT 200),
     n AS (SELECT item_id, embedding, sqrt((SELECT sum(x * x) FROM unnest(embedding) x)) AS norm FROM e)
SELECT avg((SELECT sum(a * b) FROM unnest(x.embedding, y.embedding) AS t(a, b)) / (x.norm * y.norm)) < 0.5 AS not_collapsed
FROM n x JOIN n y ON x.item_id < y.item_id;
SELECT pgrec.drop_model('ml_u1'), pgrec.drop_model('ml_split_1'), pgrec.drop_model('ml_split_2'), pgrec.drop_model('ml_split_3');
