-- Diversity on MovieLens-100K (issue 30): recommend(..., diversity => d) at d = 0, 0.25, 0.5,
-- 0.75, for ials (positive_threshold 4) trained on each training part of ml100k.split (seeds
-- 1-3), every user with a held-out positive (rating >= 4), top 10, seen items excluded:
--   p_at_10:   held-out positives among the 10, / 10 (mean over users, then over seeds);
--   ils:       intra-list similarity, the mean pairwise cosine of the 10 items' vectors;
--   genres:    distinct genres among the 10 movies;
--   coverage:  distinct movies recommended to anyone, of the 1,682.
-- Usage: ./scripts/psql.sh -d <db with ml100k loaded and pgrec> -f benches/diversity_ml100k.sql
\pset footer off
SET client_min_messages = warning;
CREATE TEMP TABLE div_rows (seed int, d real, user_id int, rank int, item_id bigint);
CREATE TEMP TABLE div_emb (seed int, item_id bigint, embedding real[]);
DO $$
DECLARE s int;
BEGIN
  FOR s IN 1..3 LOOP
    EXECUTE format('CREATE TEMP TABLE train_%s AS SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s, s);
    PERFORM pgrec.train('div_ials_' || s, 'train_' || s, 'ials', params => '{"positive_threshold": 4}');
    INSERT INTO div_emb SELECT s, item_id, embedding FROM pgrec.item_embeddings('div_ials_' || s);
  END LOOP;
END $$;
CREATE TEMP TABLE div_users AS
SELECT DISTINCT seed, user_id FROM ml100k.split WHERE is_test AND rating >= 4 AND seed <= 3;
\timing on
INSERT INTO div_rows
SELECT u.seed, d, u.user_id, r.ordinality, r.item_id
FROM div_users u, unnest(ARRAY[0, 0.25, 0.5, 0.75]::real[]) d,
     LATERAL pgrec.recommend('div_ials_' || u.seed, u.user_id::bigint, 10, diversity => d) WITH ORDINALITY r;
\timing off
CREATE FUNCTION pg_temp.cos(a real[], b real[]) RETURNS float8 LANGUAGE sql IMMUTABLE AS
$f$ SELECT sum(x * y) / nullif(sqrt(sum(x * x) * sum(y * y)), 0) FROM unnest(a, b) t(x, y) $f$;
WITH per_user AS (
  SELECT r.seed, r.d, r.user_id,
         count(*) FILTER (WHERE t.user_id IS NOT NULL) / 10.0 AS p,
         (SELECT count(DISTINCT g) FROM div_rows r2 JOIN ml100k.movies m ON m.movie_id = r2.item_id,
                 unnest(m.genres) g
          WHERE r2.seed = r.seed AND r2.d = r.d AND r2.user_id = r.user_id) AS genres
  FROM div_rows r
  LEFT JOIN ml100k.split t ON t.seed = r.seed AND t.is_test AND t.rating >= 4
                          AND t.user_id = r.user_id AND t.item_id = r.item_id
  GROUP BY r.seed, r.d, r.user_id),
ils AS (
  SELECT a.seed, a.d, a.user_id, avg(pg_temp.cos(ea.embedding, eb.embedding)) AS ils
  FROM div_rows a JOIN div_rows b ON b.seed = a.seed AND b.d = a.d AND b.user_id = a.user_id AND a.item_id < b.item_id
  JOIN div_emb ea ON ea.seed = a.seed AND ea.item_id = a.item_id
  JOIN div_emb eb ON eb.seed = b.seed AND eb.item_id = b.item_id
  GROUP BY a.seed, a.d, a.user_id),
per_seed AS (
  SELECT p.seed, p.d, avg(p.p) AS p_at_10, avg(i.ils) AS ils, avg(p.genres) AS genres,
         (SELECT count(DISTINCT item_id) FROM div_rows r WHERE r.seed = p.seed AND r.d = p.d) AS coverage,
         count(*) AS users
  FROM per_user p JOIN ils i USING (seed, d, user_id) GROUP BY p.seed, p.d)
SELECT d AS diversity, round(avg(p_at_10)::numeric, 4) AS p_at_10, round(avg(ils)::numeric, 3) AS ils,
       round(avg(genres)::numeric, 2) AS genres, round(avg(coverage)::numeric) AS coverage, sum(users) AS users
FROM per_seed GROUP BY d ORDER BY d;
SELECT pgrec.drop_model('div_ials_' || s) FROM generate_series(1, 3) s;
