-- Row weights on MovieLens-100K's timestamps (issue 30, item 1): ials (then mf) trained on the past and
-- measured on the future, with and without time decay, and with event weights derived from the
-- ratings. Two time splits:
--   global:   the newest 20% of rows (by ts) are the test set, for every user (what a nightly
--             retrain faces: predict next month from everything before it);
--   per_user: pgrec.split(..., 'temporal'): each user's newest 20%.
-- Relevant = test rows rated >= 4, the user's training items excluded; P@10 / nDCG@10 from
-- pgrec.evaluate, mean over ials seeds 1-3. Configurations:
--   threshold:     ials on ratings, positive_threshold 4 (today's way to train on ratings);
--   all_rows:      every rating one interaction (rating_col NULL);
--   events:        every rating one interaction, weighted by its rating as an event type
--                  ({"5": 4, "4": 2, "*": 0.5});
--   decay_<h>:     threshold + time decay with half-life h;
--   events_decay:  events + the best half-life.
-- Usage: ./scripts/psql.sh -d <db with ml100k loaded and pgrec> -f benches/row_weights_ml100k.sql
\pset footer off
SET client_min_messages = warning;
CREATE TEMP TABLE rw_ratings AS
SELECT user_id, item_id, rating, ts, rating::int::text AS event FROM ml100k.ratings;
-- global time split
CREATE TEMP TABLE rw_global AS
SELECT r.*, ts > (SELECT percentile_disc(0.8) WITHIN GROUP (ORDER BY ts) FROM rw_ratings) AS is_test FROM rw_ratings r;
-- per-user temporal split
CREATE TEMP TABLE rw_per_user AS
SELECT r.*, s.is_test
FROM pgrec.split('SELECT user_id, item_id, rating, ts FROM rw_ratings', 'temporal', 0.2, 42, time_col => 'ts') s
JOIN rw_ratings r ON r.user_id = s.user_id AND r.item_id = s.item_id;
CREATE TEMP TABLE rw_results (split text, config text, seed int, p10 float8, ndcg10 float8, seconds float8);
DO $$
DECLARE
  sp text; s int; c record; m jsonb; t0 timestamptz;
BEGIN
  FOREACH sp IN ARRAY ARRAY['global', 'per_user'] LOOP
    EXECUTE format('CREATE TEMP VIEW rw_train_%1$s AS SELECT * FROM rw_%1$s WHERE NOT is_test', sp);
    EXECUTE format('CREATE TEMP VIEW rw_test_%1$s AS SELECT user_id, item_id, rating FROM rw_%1$s WHERE is_test AND rating >= 4', sp);
    FOR c IN SELECT * FROM (VALUES
        ('threshold', 'rating', '{"positive_threshold": 4}'::jsonb),
        ('all_rows', NULL, '{}'::jsonb),
        ('events', NULL, '{"event_col": "event", "event_weights": {"5": 4, "4": 2, "*": 0.5}}'::jsonb),
        ('decay_30d', 'rating', '{"positive_threshold": 4, "time_col": "ts", "half_life": "30 days"}'::jsonb),
        ('decay_90d', 'rating', '{"positive_threshold": 4, "time_col": "ts", "half_life": "90 days"}'::jsonb),
        ('decay_180d', 'rating', '{"positive_threshold": 4, "time_col": "ts", "half_life": "180 days"}'::jsonb),
        ('decay_365d', 'rating', '{"positive_threshold": 4, "time_col": "ts", "half_life": "365 days"}'::jsonb),
        ('events_decay_90d', NULL, '{"event_col": "event", "event_weights": {"5": 4, "4": 2, "*": 0.5}, "time_col": "ts", "half_life": "90 days"}'::jsonb),
        ('events_decay_180d', NULL, '{"event_col": "event", "event_weights": {"5": 4, "4": 2, "*": 0.5}, "time_col": "ts", "half_life": "180 days"}'::jsonb)
      ) v(config, rating_col, params) LOOP
      FOR s IN 1..3 LOOP
        t0 := clock_timestamp();
        PERFORM pgrec.train('rw_model', 'rw_train_' || sp, 'ials', rating_col => c.rating_col,
                            params => c.params || jsonb_build_object('seed', s));
        m := pgrec.evaluate('rw_model', 'rw_test_' || sp, 10);
        INSERT INTO rw_results VALUES (sp, c.config, s, (m->>'precision_at_k')::float8, (m->>'ndcg_at_k')::float8,
                                       extract(epoch FROM clock_timestamp() - t0));
        PERFORM pgrec.drop_model('rw_model');
      END LOOP;
    END LOOP;
  END LOOP;
END $$;
SELECT split, config, round(avg(p10)::numeric, 4) AS p_at_10, round(avg(ndcg10)::numeric, 4) AS ndcg_at_10,
       round(min(p10)::numeric, 4) AS p_min, round(max(p10)::numeric, 4) AS p_max, round(avg(seconds)::numeric, 2) AS seconds
FROM rw_results GROUP BY split, config ORDER BY split, config;
-- mf on explicit ratings (a row's weight is its share of the squared loss): test RMSE on the
-- future rows of each split (every test rating), with and without time decay, mean over mf
-- seeds 1-3.
CREATE TEMP TABLE rw_rmse (split text, config text, seed int, rmse float8, seconds float8);
DO $$
DECLARE
  sp text; s int; c record; m jsonb; t0 timestamptz;
BEGIN
  FOREACH sp IN ARRAY ARRAY['global', 'per_user'] LOOP
    EXECUTE format('CREATE TEMP VIEW rw_rated_%1$s AS SELECT user_id, item_id, rating FROM rw_%1$s WHERE is_test', sp);
    FOR c IN SELECT * FROM (VALUES
        ('mf', '{}'::jsonb),
        ('mf_decay_30d', '{"time_col": "ts", "half_life": "30 days"}'::jsonb),
        ('mf_decay_90d', '{"time_col": "ts", "half_life": "90 days"}'::jsonb),
        ('mf_decay_180d', '{"time_col": "ts", "half_life": "180 days"}'::jsonb),
        ('mf_decay_365d', '{"time_col": "ts", "half_life": "365 days"}'::jsonb)
      ) v(config, params) LOOP
      FOR s IN 1..3 LOOP
        t0 := clock_timestamp();
        PERFORM pgrec.train('rw_mf', 'rw_train_' || sp, 'mf', params => c.params || jsonb_build_object('seed', s));
        m := pgrec.evaluate('rw_mf', 'rw_rated_' || sp, 10);
        INSERT INTO rw_rmse VALUES (sp, c.config, s, (m->>'rmse')::float8, extract(epoch FROM clock_timestamp() - t0));
        PERFORM pgrec.drop_model('rw_mf');
      END LOOP;
    END LOOP;
  END LOOP;
END $$;
SELECT split, config, round(avg(rmse)::numeric, 4) AS test_rmse, round(min(rmse)::numeric, 4) AS rmse_min,
       round(max(rmse)::numeric, 4) AS rmse_max, round(avg(seconds)::numeric, 2) AS seconds
FROM rw_rmse GROUP BY split, config ORDER BY split, config;
