-- MovieLens-100K: fit time and held-out RMSE with default parameters, in SQL.
\pset footer off
SET client_min_messages = warning;
CREATE TEMP TABLE results (split text, rmse float8, fit_seconds float8, train_seconds float8);
INSERT INTO results
SELECT 'u1', NULL, (metrics->>'fit_seconds')::float8, train_seconds FROM pgrec.train('b_u1', 'ml100k.u1_base');
UPDATE results SET rmse = (pgrec.evaluate('b_u1', 'ml100k.u1_test')->>'rmse')::float8 WHERE split = 'u1';
DO $$
DECLARE s int;
BEGIN
  FOR s IN 1..3 LOOP
    INSERT INTO results
    SELECT 'random seed ' || s, NULL, (metrics->>'fit_seconds')::float8, train_seconds
    FROM pgrec.train('b_split_' || s, format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s));
    UPDATE results SET rmse = (pgrec.evaluate('b_split_' || s,
      format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND is_test', s))->>'rmse')::float8
    WHERE split = 'random seed ' || s;
  END LOOP;
END $$;
SELECT split, round(rmse::numeric, 4) AS test_rmse, round(fit_seconds::numeric, 2) AS fit_s,
       round(train_seconds::numeric, 2) AS total_s FROM results
UNION ALL
SELECT 'random mean', round(avg(rmse)::numeric, 4), round(avg(fit_seconds)::numeric, 2), round(avg(train_seconds)::numeric, 2)
FROM results WHERE split LIKE 'random%';
-- the other canonical folds (u2-u5) were never used to choose the defaults
CREATE TEMP TABLE folds (fold int, rmse float8);
DO $$
DECLARE f int;
BEGIN
  FOR f IN 2..5 LOOP
    PERFORM pgrec.train('b_fold', format('SELECT user_id, item_id, rating FROM ml100k.ratings WHERE row_no <= %s OR row_no > %s', (f - 1) * 20000, f * 20000));
    INSERT INTO folds SELECT f, (pgrec.evaluate('b_fold', format('SELECT user_id, item_id, rating FROM ml100k.ratings WHERE row_no > %s AND row_no <= %s', (f - 1) * 20000, f * 20000))->>'rmse')::float8;
  END LOOP;
END $$;
SELECT 'u' || fold AS fold, round(rmse::numeric, 4) AS test_rmse FROM folds
UNION ALL SELECT 'u2-u5 mean', round(avg(rmse)::numeric, 4) FROM folds;
