-- ease side by side with ials and two_tower softmax on MovieLens-100K (issue 16), in one run:
-- ml100k.split seeds 1-3 (random 80/20), the implicit-feedback protocol of pgrec.evaluate
-- (positives = rating >= 4 via positive_threshold, every item the user rated in training
-- excluded from the ranking, relevant = held-out ratings >= 4), and each training's time.
-- Usage: ./scripts/psql.sh -d <db with ml100k loaded and pgrec> -f benches/ease_ml100k.sql
\pset footer off
SET client_min_messages = warning;
CREATE TEMP TABLE ease_configs (name text, algorithm text, params jsonb);
INSERT INTO ease_configs VALUES
  ('ease (defaults, lambda 250)', 'ease', '{"positive_threshold": 4}'),
  ('ease, lambda 100', 'ease', '{"positive_threshold": 4, "regularization": 100}'),
  ('ease, lambda 1000', 'ease', '{"positive_threshold": 4, "regularization": 1000}'),
  ('ials (defaults)', 'ials', '{"positive_threshold": 4}'),
  ('two_tower softmax', 'two_tower', '{"positive_threshold": 4, "loss": "softmax"}');
CREATE TEMP TABLE ease_results (name text, seed int, precision_at_10 float8, ndcg_at_10 float8,
                                train_seconds float8, fit_seconds float8);
DO $$
DECLARE s int; c record; t record; e jsonb;
BEGIN
  FOR s IN 1..3 LOOP
    FOR c IN SELECT * FROM ease_configs LOOP
      SELECT * INTO t FROM pgrec.train('ease_bench',
        format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND NOT is_test', s),
        c.algorithm, params => c.params);
      e := pgrec.evaluate('ease_bench',
        format('SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = %s AND is_test', s));
      INSERT INTO ease_results VALUES (c.name, s, (e->>'precision_at_k')::float8, (e->>'ndcg_at_k')::float8,
                                       t.train_seconds, (t.metrics->>'fit_seconds')::float8);
      PERFORM pgrec.drop_model('ease_bench');
    END LOOP;
  END LOOP;
END $$;
SELECT name, round(avg(precision_at_10)::numeric, 4) AS precision_at_10,
       round(min(precision_at_10)::numeric, 4) || '-' || round(max(precision_at_10)::numeric, 4) AS p_range,
       round(avg(ndcg_at_10)::numeric, 4) AS ndcg_at_10,
       round(avg(train_seconds)::numeric, 2) AS train_seconds, round(avg(fit_seconds)::numeric, 2) AS fit_seconds
FROM ease_results GROUP BY name ORDER BY avg(precision_at_10) DESC;
