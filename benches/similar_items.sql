-- Similar-items quality on MovieLens-100K (issue 16), side by side in one run: for the 200
-- most-rated movies of each training part (ml100k.split seeds 1-3), the 10 neighbours from
-- pgrec.similar_items of each model (with the default support shrinkage and without it), from
-- similar_items(method => 'cooccurrence'), and from a plain item-item cosine over who-rated-what
-- (the co-occurrence baseline), scored two ways:
--   genre:  the share of neighbours that share a genre with the movie;
--   liked:  among the users who liked the movie (rating >= 4) in the training part, the share
--           who also liked the neighbour (>= 4) in the held-out part, averaged over pairs.
-- Usage: ./scripts/psql.sh -d <db with ml100k loaded and pgrec> -f benches/similar_items.sql
\pset footer off
SET client_min_messages = warning;
CREATE TEMP TABLE sim_configs (name text, algorithm text, rating_col text, params jsonb);
INSERT INTO sim_configs VALUES
  ('mf (defaults)', 'mf', 'rating', '{}'),
  ('mf, 10 epochs', 'mf', 'rating', '{"epochs": 10}'),
  ('als (defaults)', 'als', 'rating', '{}'),
  ('ials (positive_threshold 4)', 'ials', 'rating', '{"positive_threshold": 4}'),
  ('ials (every rating one interaction)', 'ials', NULL, '{}'),
  ('bpr (positive_threshold 4)', 'bpr', 'rating', '{"positive_threshold": 4}'),
  ('two_tower softmax', 'two_tower', 'rating', '{"loss": "softmax"}'),
  ('ease (positive_threshold 4)', 'ease', 'rating', '{"positive_threshold": 4}');
CREATE TEMP TABLE sim_targets (seed int, movie_id int);
CREATE TEMP TABLE sim_neighbours (name text, seed int, movie_id int, neighbour int);
DO $$
DECLARE s int; c record; m text;
BEGIN
  FOR s IN 1..3 LOOP
    INSERT INTO sim_targets
    SELECT s, item_id FROM ml100k.split WHERE seed = s AND NOT is_test
    GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT 200;
    -- the baseline: cosine of the binary who-rated-what columns
    INSERT INTO sim_neighbours
    SELECT 'co-occurrence cosine (baseline)', s, movie_id, neighbour FROM (
      SELECT t.movie_id, b.item_id AS neighbour,
             row_number() OVER (PARTITION BY t.movie_id
                                ORDER BY count(*) / sqrt(max(na.n) * max(nb.n)) DESC, b.item_id) AS rank
      FROM sim_targets t
      JOIN ml100k.split a ON a.seed = s AND NOT a.is_test AND a.item_id = t.movie_id
      JOIN ml100k.split b ON b.seed = s AND NOT b.is_test AND b.user_id = a.user_id AND b.item_id <> t.movie_id
      JOIN (SELECT item_id, count(*) AS n FROM ml100k.split WHERE seed = s AND NOT is_test GROUP BY 1) na ON na.item_id = t.movie_id
      JOIN (SELECT item_id, count(*) AS n FROM ml100k.split WHERE seed = s AND NOT is_test GROUP BY 1) nb ON nb.item_id = b.item_id
      WHERE t.seed = s
      GROUP BY t.movie_id, b.item_id) x
    WHERE rank <= 10;
    FOR c IN SELECT * FROM sim_configs LOOP
      m := 'sim_bench_' || s;
      PERFORM pgrec.train(m, format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s),
                          c.algorithm, rating_col => c.rating_col, params => c.params);
      -- the default (embedding cosine with support shrinkage) and the raw cosine (shrinkage 0)
      INSERT INTO sim_neighbours
      SELECT c.name || v.suffix, s, t.movie_id, n.item_id
      FROM sim_targets t, (VALUES ('', NULL::real), (', shrinkage 0', 0)) v(suffix, shrinkage),
           LATERAL pgrec.similar_items(m, t.movie_id::bigint, 10, shrinkage => v.shrinkage) n
      WHERE t.seed = s;
      -- pgrec's own co-occurrence cosine (the interactions stored with the version), once
      IF c.algorithm = 'ials' AND c.rating_col IS NOT NULL THEN
        INSERT INTO sim_neighbours
        SELECT 'pgrec method => cooccurrence', s, t.movie_id, n.item_id
        FROM sim_targets t, LATERAL pgrec.similar_items(m, t.movie_id::bigint, 10, method => 'cooccurrence') n
        WHERE t.seed = s;
      END IF;
      PERFORM pgrec.drop_model(m);
    END LOOP;
  END LOOP;
END $$;
-- one row per (method, seed): both measures, set-based (hash joins over the fans of each movie)
CREATE TEMP TABLE sim_fans AS
SELECT seed, item_id, user_id FROM ml100k.split WHERE NOT is_test AND rating >= 4 AND seed <= 3;
CREATE TEMP TABLE sim_liked_later AS
SELECT seed, user_id, item_id FROM ml100k.split WHERE is_test AND rating >= 4 AND seed <= 3;
ANALYZE sim_fans, sim_liked_later, sim_neighbours;
CREATE TEMP TABLE sim_pairs AS
SELECT n.name, n.seed, n.movie_id, n.neighbour,
       count(l.user_id)::float8 / nullif(count(f.user_id), 0) AS liked
FROM sim_neighbours n
LEFT JOIN sim_fans f ON f.seed = n.seed AND f.item_id = n.movie_id
LEFT JOIN sim_liked_later l ON l.seed = n.seed AND l.user_id = f.user_id AND l.item_id = n.neighbour
GROUP BY n.name, n.seed, n.movie_id, n.neighbour;
CREATE TEMP TABLE sim_scores AS
SELECT p.name, p.seed, avg((m.genres && g.genres)::int) AS genre, avg(p.liked) AS liked
FROM sim_pairs p
JOIN ml100k.movies m ON m.movie_id = p.movie_id
JOIN ml100k.movies g ON g.movie_id = p.neighbour
GROUP BY p.name, p.seed;
SELECT name AS neighbours_from,
       round(avg(genre), 3) AS share_a_genre, round(min(genre), 3) || '-' || round(max(genre), 3) AS genre_range,
       round(avg(liked)::numeric, 4) AS liked_in_held_out, round(min(liked)::numeric, 4) || '-' || round(max(liked)::numeric, 4) AS liked_range
FROM sim_scores GROUP BY name ORDER BY avg(liked) DESC;
-- a random pair, for scale
SELECT round(avg((a.genres && b.genres)::int), 3) AS random_pair_share_a_genre
FROM ml100k.movies a JOIN ml100k.movies b ON a.movie_id <> b.movie_id AND (a.movie_id * 7 + b.movie_id) % 97 = 0;
