-- Row weights (API v3 "Row weights", issue 30): event_col + event_weights and time_col +
-- half_life. Each weighted training is checked against the same algorithm trained on a view that
-- computes the weights in SQL, so a wrong weight, a wrong anchor or a weight applied twice
-- shows as different vectors.
SET client_min_messages = warning;
DROP ROLE IF EXISTS pgrec_events_owner;
DROP ROLE IF EXISTS pgrec_events_other;
CREATE ROLE pgrec_events_owner;
CREATE ROLE pgrec_events_other;
-- An event log from MovieLens-100K: a 5 is a purchase, a 4 a cart, the rest views; ts in
-- Unix seconds, and as a timestamptz. Some pairs repeat (a view, then a purchase).
CREATE TABLE events AS
SELECT r.user_id, r.item_id,
       CASE r.rating WHEN 5 THEN 'purchase' WHEN 4 THEN 'cart' ELSE 'view' END AS event,
       r.ts, to_timestamp(r.ts) AS at
FROM ml100k.split s JOIN ml100k.ratings r USING (user_id, item_id)
WHERE s.seed = 1 AND NOT s.is_test;
INSERT INTO events
SELECT user_id, item_id, 'view', ts - 86400, to_timestamp(ts - 86400) FROM events
WHERE event = 'purchase' AND user_id % 3 = 0;
-- The same weights, computed in SQL: per pair, the sum of its rows' weights.
CREATE VIEW events_by_type AS
SELECT user_id, item_id,
       sum(CASE event WHEN 'purchase' THEN 10 WHEN 'cart' THEN 3 ELSE 1 END)::real AS w
FROM events GROUP BY 1, 2;
CREATE VIEW events_decayed AS
SELECT user_id, item_id,
       sum(power(0.5, ((SELECT max(ts) FROM events) - ts) / (30 * 86400.0))::real)::real AS w
FROM events GROUP BY 1, 2;
-- Explicit ratings with their times; item 50's older half rated 1 and its newer half 5 (its
-- taste drifted).
CREATE TABLE rated AS
SELECT r.user_id, r.item_id, r.rating::real AS rating, r.ts,
       CASE WHEN r.rating >= 4 THEN 'liked' ELSE 'other' END AS kind
FROM ml100k.split s JOIN ml100k.ratings r USING (user_id, item_id)
WHERE s.seed = 1 AND NOT s.is_test;
UPDATE rated SET rating = CASE WHEN ts < (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ts)
                                          FROM rated WHERE item_id = 50) THEN 1 ELSE 5 END
WHERE item_id = 50;
GRANT SELECT ON events, events_by_type, events_decayed, rated TO pgrec_events_owner;
SET ROLE pgrec_events_owner;
SELECT version FROM pgrec.train('ev_typed', 'events', 'ials', rating_col => NULL,
  params => '{"factors": 8, "epochs": 5, "event_col": "event",
              "event_weights": {"purchase": 10, "cart": 3, "view": 1}}');
SELECT version FROM pgrec.train('ev_typed_sql', 'events_by_type', 'ials', rating_col => 'w',
  params => '{"factors": 8, "epochs": 5}');
SELECT version FROM pgrec.train('ev_decay', 'events', 'ials', rating_col => NULL,
  params => '{"factors": 8, "epochs": 5, "time_col": "ts", "half_life": "30 days"}');
SELECT version FROM pgrec.train('ev_decay_sql', 'events_decayed', 'ials', rating_col => 'w',
  params => '{"factors": 8, "epochs": 5}');
SET client_min_messages = notice;

-- Event weights: the same vectors as ials on the SQL-weighted pairs (each pair's confidence
-- 1 + alpha * the sum of its rows' weights).
SELECT max(abs(a.x - b.x)) < 1e-5 AS typed_same_as_sql
FROM (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_typed')) a
JOIN (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_typed_sql')) b
USING (user_id, f);
-- and not the vectors of the unweighted rows (the weights change the model)
SELECT version FROM pgrec.train('ev_plain', 'events', 'ials', rating_col => NULL, params => '{"factors": 8, "epochs": 5}');
SELECT max(abs(a.x - b.x)) > 1e-2 AS plain_differs
FROM (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_typed')) a
JOIN (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_plain')) b
USING (user_id, f);
-- Time decay: weights halve per 30 days back from the newest ts.
SELECT max(abs(a.x - b.x)) < 1e-4 AS decay_same_as_sql
FROM (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_decay')) a
JOIN (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_decay_sql')) b
USING (user_id, f);
-- The version records the params and the anchor (the newest ts), and a timestamptz column
-- gives the same model as its Unix seconds.
SELECT params->>'time_col' AS time_col, params->>'half_life' AS half_life,
       (params->>'time_anchor')::float8 = (SELECT max(ts) FROM events) AS anchor_is_newest
FROM pgrec.models WHERE model = 'ev_decay' AND active;
SELECT params->'event_weights' AS event_weights, params->>'event_col' AS event_col
FROM pgrec.models WHERE model = 'ev_typed' AND active;
SELECT version FROM pgrec.train('ev_decay_at', 'events', 'ials', rating_col => NULL,
  params => '{"factors": 8, "epochs": 5, "time_col": "at", "half_life": "30 days"}');
SELECT max(abs(a.x - b.x)) < 1e-6 AS timestamptz_same_as_seconds
FROM (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_decay')) a
JOIN (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_decay_at')) b
USING (user_id, f);

-- popular is weighted as trained: each item's score is the sum of its rows' weights ("trending"
-- with decay); an unweighted model's is its count.
SELECT bool_and(abs(p.score - s.w) <= 1e-3 * s.w) AS typed_popular_is_weight_sum, count(*) AS rows
FROM pgrec.popular('ev_typed', 20, NULL::bigint) p
JOIN (SELECT item_id, sum(w) AS w FROM events_by_type GROUP BY 1) s USING (item_id);
SELECT (SELECT array_agg(item_id ORDER BY score DESC, item_id) FROM pgrec.popular('ev_decay', 10, NULL::bigint))
     = (SELECT array_agg(item_id::bigint) FROM (SELECT item_id FROM events_decayed GROUP BY 1 ORDER BY sum(w) DESC, item_id LIMIT 10) t)
       AS trending_order,
       (SELECT array_agg(item_id ORDER BY score DESC, item_id) FROM pgrec.popular('ev_decay', 10, NULL::bigint))
    <> (SELECT array_agg(item_id ORDER BY score DESC, item_id) FROM pgrec.popular('ev_plain', 10, NULL::bigint)) AS trending_differs_from_counts;
-- fallback => 'popular' serves the weighted popular items to unknown users
SELECT (SELECT array_agg(item_id ORDER BY ordinality) FROM pgrec.recommend('ev_decay', 99999, 5, fallback => 'popular') WITH ORDINALITY)
     = (SELECT array_agg(item_id ORDER BY ordinality) FROM pgrec.popular('ev_decay', 5, NULL::bigint) WITH ORDINALITY) AS fallback_is_trending;

-- retrain replays the weights and the same rows give the same model (the anchor comes from the
-- rows, not the clock).
SELECT version FROM pgrec.retrain('ev_decay');
SELECT max(abs(a.x - b.x)) = 0 AS retrain_identical
FROM (SELECT user_id, unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_decay')) a
JOIN (SELECT u.user_id, unnest(u.embedding) AS x, generate_subscripts(u.embedding, 1) AS f
      FROM pgrec.user_factors u JOIN pgrec.model_versions v ON v.id = u.version_id
      WHERE v.model = 'ev_decay' AND v.version = 1) b
USING (user_id, f);

-- Fold-in weighs the folded rows as the version did, with the version's anchor: user 5 folded
-- from the event log lands where folding it from the SQL-weighted pairs lands.
SELECT pgrec.fold_in('ev_typed', 'SELECT * FROM events WHERE user_id = 5', rating_col => NULL);
SELECT pgrec.fold_in('ev_typed_sql', 'SELECT * FROM events_by_type WHERE user_id = 5', rating_col => 'w');
SELECT max(abs(a.x - b.x)) < 1e-5 AS folded_user_same
FROM (SELECT unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_typed') WHERE user_id = 5) a
JOIN (SELECT unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_typed_sql') WHERE user_id = 5) b
USING (f);
SELECT pgrec.fold_in('ev_decay', 'SELECT * FROM events WHERE user_id = 5', rating_col => NULL);
SELECT pgrec.fold_in('ev_decay_sql', 'SELECT * FROM events_decayed WHERE user_id = 5', rating_col => 'w');
SELECT max(abs(a.x - b.x)) < 1e-4 AS folded_decayed_user_same
FROM (SELECT unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_decay') WHERE user_id = 5) a
JOIN (SELECT unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.user_embeddings('ev_decay_sql') WHERE user_id = 5) b
USING (f);
-- items too
SELECT pgrec.fold_in_items('ev_typed', 'SELECT * FROM events WHERE item_id = 50', rating_col => NULL);
SELECT pgrec.fold_in_items('ev_typed_sql', 'SELECT * FROM events_by_type WHERE item_id = 50', rating_col => 'w');
SELECT max(abs(a.x - b.x)) < 1e-4 AS folded_item_same
FROM (SELECT unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.item_embeddings('ev_typed') WHERE item_id = 50) a
JOIN (SELECT unnest(embedding) AS x, generate_subscripts(embedding, 1) AS f FROM pgrec.item_embeddings('ev_typed_sql') WHERE item_id = 50) b
USING (f);

-- ease: X holds the weights (all ones on distinct pairs is plain ease; a repeated pair would
-- hold its count); bpr samples positives by weight.
SELECT version FROM pgrec.train('ev_ease1', 'SELECT DISTINCT user_id, item_id, ''any'' AS event FROM events', 'ease', rating_col => NULL,
  params => '{"event_col": "event", "event_weights": {"*": 1}}');
SELECT version FROM pgrec.train('ev_ease', 'events', 'ease', rating_col => NULL);
SELECT version FROM pgrec.train('ev_ease_typed', 'events', 'ease', rating_col => NULL,
  params => '{"event_col": "event", "event_weights": {"purchase": 10, "*": 1}}');
SELECT (SELECT array_agg(item_id ORDER BY ordinality) FROM pgrec.recommend('ev_ease1', 7, 10) WITH ORDINALITY)
     = (SELECT array_agg(item_id ORDER BY ordinality) FROM pgrec.recommend('ev_ease', 7, 10) WITH ORDINALITY) AS ease_ones_is_plain,
       (SELECT array_agg(item_id ORDER BY ordinality) FROM pgrec.recommend('ev_ease_typed', 7, 10) WITH ORDINALITY)
    <> (SELECT array_agg(item_id ORDER BY ordinality) FROM pgrec.recommend('ev_ease', 7, 10) WITH ORDINALITY) AS ease_weights_change_it;
SELECT count(*) AS rows FROM pgrec.recommend('ev_ease_typed', 7, 10);
SELECT version FROM pgrec.train('ev_bpr', 'events', 'bpr', rating_col => NULL,
  params => '{"factors": 8, "epochs": 3, "event_col": "event", "event_weights": {"purchase": 10, "*": 1}, "time_col": "at", "half_life": "1 year"}');
SELECT count(*) AS rows FROM pgrec.recommend('ev_bpr', 7, 10);

-- mf: a row's weight is its share of the squared loss. Weights are scaled to mean 1, so equal
-- weights train the unweighted model, bit for bit.
SET client_min_messages = warning;
SELECT version FROM pgrec.train('mf_plain', 'rated', 'mf', params => '{"factors": 8, "epochs": 5}');
SELECT version FROM pgrec.train('mf_equal', 'rated', 'mf',
  params => '{"factors": 8, "epochs": 5, "event_col": "kind", "event_weights": {"*": 7}}');
SELECT count(*) AS items, count(*) FILTER (WHERE a.embedding = b.embedding AND a.bias = b.bias) AS identical
FROM pgrec.item_embeddings('mf_plain') a JOIN pgrec.item_embeddings('mf_equal') b USING (item_id);
SELECT metrics->>'loss_weight_mean' AS mean_weight FROM pgrec.models WHERE model = 'mf_equal';
-- Time decay follows the drift: with a half-life of 30 days the newer ratings of item 50 (5)
-- outweigh its older ones (1), and its predictions rise; weighting liked rows up does too.
SELECT version FROM pgrec.train('mf_decay', 'rated', 'mf',
  params => '{"factors": 8, "epochs": 5, "time_col": "ts", "half_life": "30 days"}');
SELECT version FROM pgrec.train('mf_liked', 'rated', 'mf',
  params => '{"factors": 8, "epochs": 5, "event_col": "kind", "event_weights": {"liked": 4, "other": 1}}');
SET client_min_messages = notice;
SELECT avg(pgrec.predict('mf_decay', u::bigint, 50)) > avg(pgrec.predict('mf_plain', u::bigint, 50)) + 0.3 AS decay_follows_the_drift,
       avg(pgrec.predict('mf_liked', u::bigint, 50)) > avg(pgrec.predict('mf_plain', u::bigint, 50)) AS liked_rows_weigh_more
FROM generate_series(1, 200) u;
-- Fold-in and explain weigh a user's rows as the training did: the explanation of a folded
-- user adds up to its served score.
SELECT pgrec.fold_in('mf_decay', 'SELECT * FROM rated WHERE user_id = 5');
SELECT abs(sum(contribution) - pgrec.predict('mf_decay', 5::bigint, 50)) < 1e-3 AS explanation_adds_up
FROM pgrec.explain('mf_decay', 5::bigint, 50::bigint, 10000);
SELECT pgrec.fold_in('mf_plain', 'SELECT * FROM rated WHERE user_id = 5');
SELECT (SELECT embedding FROM pgrec.user_embeddings('mf_decay') WHERE user_id = 5)
    <> (SELECT embedding FROM pgrec.user_embeddings('mf_plain') WHERE user_id = 5) AS weights_shape_the_fold_in;

-- ncf and two_tower: the same share of the loss (a row's sampled negatives share its weight).
SET client_min_messages = warning;
SELECT version FROM pgrec.train('tt_plain', 'rated', 'two_tower', params => '{"factors": 8, "epochs": 2}');
SELECT version FROM pgrec.train('tt_equal', 'rated', 'two_tower',
  params => '{"factors": 8, "epochs": 2, "event_col": "kind", "event_weights": {"*": 3}}');
SELECT version FROM pgrec.train('tt_decay', 'rated', 'two_tower',
  params => '{"factors": 8, "epochs": 2, "time_col": "ts", "half_life": "30 days"}');
SELECT version FROM pgrec.train('nc_decay', 'SELECT user_id, item_id, ts FROM rated', 'ncf', rating_col => NULL,
  params => '{"loss": "bce", "factors": 8, "epochs": 1, "time_col": "ts", "half_life": "30 days"}');
SET client_min_messages = notice;
SELECT count(*) AS items, count(*) FILTER (WHERE a.embedding = b.embedding AND a.bias = b.bias) AS identical
FROM pgrec.item_embeddings('tt_plain') a JOIN pgrec.item_embeddings('tt_equal') b USING (item_id);
SELECT avg(pgrec.predict('tt_decay', u::bigint, 50)) > avg(pgrec.predict('tt_plain', u::bigint, 50)) + 0.3
       AS tt_decay_follows_the_drift
FROM generate_series(1, 200) u;
SELECT count(*) AS nc_recommended, (SELECT metrics ? 'loss_weight_mean' FROM pgrec.models WHERE model = 'nc_decay') AS recorded
FROM pgrec.recommend('nc_decay', 7, 10);

-- Errors: each names the bad value, before anything is read or written.
SELECT pgrec.train('ev_bad', 'SELECT *, 1 AS rating FROM events', 'als', params => '{"event_col": "event", "event_weights": {"*": 1}}');
SELECT pgrec.train('ev_bad', 'SELECT *, 1 AS rating FROM events', 'als', params => '{"time_col": "ts", "half_life": "1 day"}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"event_col": "event"}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"event_weights": {"view": 1}}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"event_col": "event", "event_weights": {"view": 1, "cart": 2}}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"event_col": "event", "event_weights": {"view": 0, "*": 1}}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"event_col": "event", "event_weights": [1, 2]}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"event_col": "nope", "event_weights": {"*": 1}}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"time_col": "ts"}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"time_col": "ts", "half_life": "-3 days"}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"time_col": "ts", "half_life": "soon"}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"time_col": "event", "half_life": "1 day"}');
SELECT pgrec.train('ev_bad', 'events', 'ials', rating_col => NULL, params => '{"time_col": "ts", "half_life": "1 day", "time_anchor": 0}');
SELECT count(*) AS no_model FROM pgrec.models WHERE model = 'ev_bad';
-- NULL event types and times skip their rows, counted in a NOTICE.
SELECT version, n_interactions FROM pgrec.train('ev_nulls',
  'SELECT user_id, item_id, CASE WHEN user_id = 1 THEN NULL ELSE event END AS event, ts FROM events', 'ials', rating_col => NULL,
  params => '{"factors": 4, "epochs": 1, "event_col": "event", "event_weights": {"*": 1}}');
-- An unrelated role reads neither the source nor the model.
RESET ROLE;
SET ROLE pgrec_events_other;
SELECT pgrec.train('ev_other', 'events', 'ials', rating_col => NULL, params => '{"event_col": "event", "event_weights": {"*": 1}}');
SELECT count(*) FROM pgrec.popular('ev_decay', 5, NULL::bigint);
SELECT pgrec.fold_in('ev_decay', 'SELECT 1::bigint AS user_id, 50::bigint AS item_id', rating_col => NULL);
RESET ROLE;
SET client_min_messages = warning;
SET ROLE pgrec_events_owner;
SELECT pgrec.drop_model(m) FROM unnest(ARRAY['ev_typed', 'ev_typed_sql', 'ev_decay', 'ev_decay_sql', 'ev_plain', 'ev_decay_at',
  'ev_ease1', 'ev_ease', 'ev_ease_typed', 'ev_bpr', 'ev_nulls', 'mf_plain', 'mf_equal', 'mf_decay', 'mf_liked',
  'tt_plain', 'tt_equal', 'tt_decay', 'nc_decay']) m;
RESET ROLE;
DROP VIEW events_by_type, events_decayed;
DROP TABLE events, rated;
DROP ROLE pgrec_events_owner;
DROP ROLE pgrec_events_other;
