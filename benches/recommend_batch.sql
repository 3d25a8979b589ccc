-- recommend_batch against one recommend call per user (issue 12), side by side in one run:
-- 1,000 users, top 10, on the MovieLens-100K ials model (1,682 items) and on a synthetic
-- catalog of 200,000 items (64 factors), warm caches, pgrec.threads as set (default: cores).
-- Usage: ./scripts/psql.sh -d <db with ml100k loaded and pgrec> -f benches/recommend_batch.sql
\pset footer off
SET client_min_messages = warning;
SELECT version FROM pgrec.train('bench_batch_ml', 'ml100k.ratings', 'ials', params => '{"positive_threshold": 4}');
CREATE TEMP TABLE bench_synth AS SELECT * FROM pgrec.synthetic_ratings(20000, 200000, 2000000, seed => 7);
SELECT version FROM pgrec.train('bench_batch_200k', 'bench_synth', 'ials', rating_col => NULL,
                                params => '{"epochs": 2}');
CREATE TEMP TABLE bench_batch (model text, items int, method text, seconds float8, rows bigint);
DO $$
DECLARE m text; n int; t0 timestamptz; r bigint; round int;
BEGIN
  FOR m, n IN VALUES ('bench_batch_ml', 1682), ('bench_batch_200k', 200000) LOOP
    -- warm: load the model into this backend's cache
    PERFORM count(*) FROM pgrec.recommend(m, 1::bigint, 10);
    FOR round IN 1..2 LOOP
      t0 := clock_timestamp();
      SELECT count(*) INTO r FROM generate_series(1, 1000) u, LATERAL pgrec.recommend(m, u::bigint, 10);
      INSERT INTO bench_batch VALUES (m, n, '1,000 recommend calls', extract(epoch FROM clock_timestamp() - t0), r);
      t0 := clock_timestamp();
      SELECT count(*) INTO r FROM pgrec.recommend_batch(m, ARRAY(SELECT generate_series(1, 1000))::bigint[], 10);
      INSERT INTO bench_batch VALUES (m, n, 'one recommend_batch of 1,000', extract(epoch FROM clock_timestamp() - t0), r);
    END LOOP;
  END LOOP;
END $$;
SELECT model, items, method, round(min(seconds)::numeric * 1000, 1) AS best_ms,
       round(min(seconds)::numeric * 1000000 / 1000, 1) AS us_per_user, max(rows) AS rows
FROM bench_batch GROUP BY 1, 2, 3 ORDER BY 2, 3;
SELECT a.model, round((min(a.seconds) / min(b.seconds))::numeric, 1) AS batch_speedup
FROM bench_batch a JOIN bench_batch b ON a.model = b.model
WHERE a.method LIKE '1,000%' AND b.method LIKE 'one%' GROUP BY 1;
SELECT pgrec.drop_model('bench_batch_ml'), pgrec.drop_model('bench_batch_200k');
