-- New items without retraining (issue 30): on each training part of ml100k.split (seeds 1-3),
-- every tenth movie id is held out of training and then folded in with pgrec.fold_in_items from
-- its training interactions, against a model trained on the whole part (same algorithm and
-- params). For the held-out movies, side by side:
--   genre:   the share of their 10 similar_items neighbours that share a genre with them;
--   liked:   of the users who liked the movie (>= 4) in the training part, the share who also
--            liked a neighbour (>= 4) in the held-out part, averaged over pairs;
--   reached: of the held-out part's positives (>= 4) on those movies, the share found in the
--            user's top 50 (recommend, seen items excluded): how often a new item reaches its
--            true fans.
-- Usage: ./scripts/psql.sh -d <db with ml100k loaded and pgrec> -f benches/fold_in_items.sql
\pset footer off
SET client_min_messages = warning;
CREATE TEMP TABLE fi_configs (algorithm text, rating_col text, params jsonb);
INSERT INTO fi_configs VALUES
  ('ials', 'rating', '{"positive_threshold": 4}'),
  ('mf', 'rating', '{}'),
  ('als', 'rating', '{}'),
  ('bpr', 'rating', '{"positive_threshold": 4}');
CREATE TEMP TABLE fi_neighbours (algorithm text, variant text, seed int, movie_id int, neighbour int);
CREATE TEMP TABLE fi_top (algorithm text, variant text, seed int, user_id int, item_id int);
CREATE TEMP TABLE fi_seconds (algorithm text, seed int, seconds float8);
DO $$
DECLARE s int; c record; t timestamptz; m text;
BEGIN
  FOR s IN 1..3 LOOP
    EXECUTE format('CREATE TEMP TABLE fi_train_%s AS SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s, s);
    FOR c IN SELECT * FROM fi_configs LOOP
      m := format('fi_%s_%s', c.algorithm, s);
      PERFORM pgrec.train(m || '_all', 'fi_train_' || s, c.algorithm, rating_col => c.rating_col, params => c.params);
      PERFORM pgrec.train(m || '_new', format('SELECT * FROM fi_train_%s WHERE item_id %% 10 <> 0', s), c.algorithm,
                          rating_col => c.rating_col, params => c.params);
      t := clock_timestamp();
      PERFORM pgrec.fold_in_items(m || '_new', format('SELECT * FROM fi_train_%s WHERE item_id %% 10 = 0', s),
                                  rating_col => c.rating_col);
      INSERT INTO fi_seconds VALUES (c.algorithm, s, extract(epoch FROM clock_timestamp() - t));
      INSERT INTO fi_neighbours
      SELECT c.algorithm, v, s, i.item_id, n.item_id
      FROM unnest(ARRAY['trained with them', 'folded in']) v,
           (SELECT DISTINCT item_id FROM ml100k.split WHERE seed = s AND NOT is_test AND item_id % 10 = 0) i,
           LATERAL pgrec.similar_items(m || CASE v WHEN 'folded in' THEN '_new' ELSE '_all' END, i.item_id::bigint, 10) n;
      INSERT INTO fi_top
      SELECT c.algorithm, v, s, u.user_id, r.item_id
      FROM unnest(ARRAY['trained with them', 'folded in']) v,
           (SELECT DISTINCT user_id FROM ml100k.split WHERE seed = s AND is_test AND rating >= 4 AND item_id % 10 = 0) u,
           LATERAL pgrec.recommend(m || CASE v WHEN 'folded in' THEN '_new' ELSE '_all' END, u.user_id::bigint, 50) r;
      PERFORM pgrec.drop_model(m || '_all');
      PERFORM pgrec.drop_model(m || '_new');
    END LOOP;
  END LOOP;
END $$;
CREATE TEMP TABLE fi_pos_train AS SELECT seed, user_id, item_id FROM ml100k.split WHERE seed <= 3 AND NOT is_test AND rating >= 4;
CREATE TEMP TABLE fi_pos_test AS SELECT seed, user_id, item_id FROM ml100k.split WHERE seed <= 3 AND is_test AND rating >= 4;
CREATE INDEX ON fi_pos_train (seed, item_id);
CREATE INDEX ON fi_pos_test (seed, user_id, item_id);
CREATE INDEX ON fi_top (algorithm, variant, seed, user_id, item_id);
ANALYZE fi_pos_train; ANALYZE fi_pos_test; ANALYZE fi_top;
WITH genre AS (
  SELECT n.algorithm, n.variant, avg((mv.genres && mn.genres)::int) AS genre
  FROM fi_neighbours n JOIN ml100k.movies mv ON mv.movie_id = n.movie_id
  JOIN ml100k.movies mn ON mn.movie_id = n.neighbour GROUP BY 1, 2),
pair AS (
  SELECT n.algorithm, n.variant,
         (SELECT avg((EXISTS (SELECT 1 FROM fi_pos_test b WHERE b.seed = a.seed AND b.user_id = a.user_id
                                AND b.item_id = n.neighbour))::int)
          FROM fi_pos_train a WHERE a.seed = n.seed AND a.item_id = n.movie_id) AS share
  FROM fi_neighbours n),
liked AS (SELECT algorithm, variant, avg(coalesce(share, 0)) AS liked FROM pair GROUP BY 1, 2),
reached AS (
  SELECT v.algorithm, v.variant,
         avg((EXISTS (SELECT 1 FROM fi_top t WHERE t.algorithm = v.algorithm AND t.variant = v.variant
                        AND t.seed = p.seed AND t.user_id = p.user_id AND t.item_id = p.item_id))::int) AS reached
  FROM (SELECT DISTINCT algorithm, variant FROM fi_top) v
  JOIN fi_pos_test p ON p.item_id % 10 = 0
  GROUP BY 1, 2)
SELECT algorithm, variant, round(genre::numeric, 3) AS genre, round(liked::numeric, 4) AS liked,
       round(reached::numeric, 4) AS reached
FROM genre JOIN liked USING (algorithm, variant) JOIN reached USING (algorithm, variant)
ORDER BY algorithm, variant DESC;
SELECT algorithm, round(avg(seconds)::numeric, 3) AS fold_in_items_seconds FROM fi_seconds GROUP BY 1 ORDER BY 1;
