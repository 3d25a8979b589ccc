-- pgrec.explain on MovieLens-100K (issue 30, item 6): for each dot model trained on
-- ml100k.split seed 1, the first 200 users' top recommendation explained (k 5). Reported per
-- algorithm: whether the shares are exact, the largest gap between the rows' sum and `score`
-- (the explanation's own vector), the mean and largest gap between `score` and the served
-- score, and the time per call (each call
-- reads the user's rows from the source again: here a 80,000-row table without an index on
-- user_id).
-- Usage: ./scripts/psql.sh -d <db with ml100k loaded and pgrec> -f benches/explain_ml100k.sql
\pset footer off
SET client_min_messages = warning;
CREATE TEMP TABLE xb_train AS SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test;
SELECT pgrec.train('xb_ials', 'xb_train', 'ials', params => '{"positive_threshold": 4}');
SELECT pgrec.train('xb_als', 'xb_train', 'als');
SELECT pgrec.train('xb_mf', 'xb_train', 'mf');
SELECT pgrec.train('xb_ease', 'xb_train', 'ease', params => '{"positive_threshold": 4}');
SELECT pgrec.train('xb_bpr', 'xb_train', 'bpr', params => '{"positive_threshold": 4}');
CREATE TEMP TABLE xb_rows (m text, user_id int, item_id bigint, contribution real, score real, served real, exact bool);
CREATE TEMP TABLE xb_time (m text, seconds float8, calls int);
DO $$
DECLARE m text; t0 timestamptz;
BEGIN
  FOREACH m IN ARRAY ARRAY['xb_ials', 'xb_als', 'xb_mf', 'xb_ease', 'xb_bpr'] LOOP
    t0 := clock_timestamp();
    INSERT INTO xb_rows
    SELECT m, u.user_id, e.item_id, e.contribution, e.score, e.served_score, e.exact
    FROM generate_series(1, 200) u(user_id),
         LATERAL (SELECT item_id AS top FROM pgrec.recommend(m, u.user_id::bigint, 1)) r,
         LATERAL pgrec.explain(m, u.user_id::bigint, r.top, 5) e;
    INSERT INTO xb_time VALUES (m, extract(epoch FROM clock_timestamp() - t0), 200);
  END LOOP;
END $$;
SELECT r.m AS model, bool_and(exact) AS exact,
       max(abs(sum_rows - score)) AS max_rows_vs_score,
       avg(abs(score - served)) AS mean_score_vs_served, max(abs(score - served)) AS max_score_vs_served,
       round((min(t.seconds) / min(t.calls) * 1000)::numeric, 2) AS ms_per_call
FROM (SELECT m, user_id, bool_and(exact) AS exact, sum(contribution) AS sum_rows, min(score) AS score, min(served) AS served,
             min(contribution) FILTER (WHERE item_id IS NULL) AS rest
      FROM xb_rows GROUP BY m, user_id) r
JOIN xb_time t USING (m) GROUP BY r.m ORDER BY r.m;
SELECT pgrec.drop_model(m) FROM unnest(ARRAY['xb_ials', 'xb_als', 'xb_mf', 'xb_ease', 'xb_bpr']) m;
