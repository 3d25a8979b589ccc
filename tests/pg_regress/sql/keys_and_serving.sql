-- Serving on integer, text, uuid and mixed keys; results checked against plain SQL.
SET client_min_messages = warning;
SELECT model, version, n_users, n_items, n_interactions
FROM pgrec.train('tiny_mf', 'tiny', params => '{"factors": 4, "epochs": 30, "seed": 1}');
SET client_min_messages = notice;

-- recommend: k rows, best first, bigint keys, seen items excluded unless asked
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.recommend('tiny_mf', 1);
SELECT bool_and(score <= prev) AS best_first FROM (
  SELECT score, lag(score, 1, 'Infinity') OVER (ORDER BY ordinality) AS prev
  FROM pgrec.recommend('tiny_mf', 1, 20) WITH ORDINALITY) s;
SELECT count(*) AS unseen_items,
       count(*) FILTER (WHERE item_id IN (SELECT item_id FROM tiny WHERE user_id = 1)) AS seen_returned
FROM pgrec.recommend('tiny_mf', 1, 100);
SELECT count(*) AS all_items,
       count(*) FILTER (WHERE item_id IN (SELECT item_id FROM tiny WHERE user_id = 1)) AS seen_returned
FROM pgrec.recommend('tiny_mf', 1, 100, exclude_seen => false);
-- recommend's score is the model's prediction (before clipping)
SELECT bool_and(abs(r.score - pgrec.predict('tiny_mf', 1, r.item_id)) < 1e-4
                OR pgrec.predict('tiny_mf', 1, r.item_id) IN (1, 5)) AS score_is_prediction
FROM pgrec.recommend('tiny_mf', 1, 5) r;

-- predict = global mean + user bias + item bias + dot product, clipped to [1, 5]
WITH v AS (SELECT global_mean FROM pgrec.model_versions WHERE model = 'tiny_mf' AND active),
     u AS (SELECT * FROM pgrec.user_embeddings('tiny_mf') WHERE user_id = 3),
     i AS (SELECT * FROM pgrec.item_embeddings('tiny_mf') WHERE item_id = 3)
SELECT abs(pgrec.predict('tiny_mf', 3, 3) -
           least(5, greatest(1, v.global_mean + u.bias + i.bias +
                 (SELECT sum(a * b) FROM unnest(u.embedding, i.embedding) AS x(a, b))))) < 1e-4 AS matches_sql
FROM v, u, i;

-- similar_items: cosine in [-1, 1], itself excluded, same as computing it in SQL (unshrunk;
-- values.sql checks the shrinkage)
SELECT count(*), bool_and(similarity BETWEEN -1 AND 1) AS in_range, bool_or(item_id = 5) AS has_self
FROM pgrec.similar_items('tiny_mf', 5, 100);
WITH e AS (SELECT item_id, embedding FROM pgrec.item_embeddings('tiny_mf')),
     q AS (SELECT embedding FROM e WHERE item_id = 5),
     cos AS (SELECT e.item_id,
                    (SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b)) FROM unnest(e.embedding, q.embedding) x(a, b)) AS c
             FROM e, q WHERE e.item_id <> 5)
SELECT (SELECT item_id FROM cos ORDER BY c DESC, item_id LIMIT 1) =
       (SELECT item_id FROM pgrec.similar_items('tiny_mf', 5, 1, shrinkage => 0)) AS same_best,
       (SELECT abs(max(c) - (SELECT similarity FROM pgrec.similar_items('tiny_mf', 5, 1, shrinkage => 0))) < 1e-5 FROM cos) AS same_value;

-- unknown user or item: not an error
SELECT pgrec.predict('tiny_mf', 999, 1) IS NULL AS unknown_user_is_null,
       pgrec.predict('tiny_mf', 1, 999) IS NULL AS unknown_item_is_null;
SELECT * FROM pgrec.recommend('tiny_mf', 999);
SELECT * FROM pgrec.similar_items('tiny_mf', 999);

-- a quoted number reaches the text overload and still finds integer user 1
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.recommend('tiny_mf', '1');
SELECT (SELECT array_agg(item_id::text) FROM pgrec.recommend('tiny_mf', 1)) =
       (SELECT array_agg(item_id) FROM pgrec.recommend('tiny_mf', '1')) AS same_list;
SELECT pgrec.predict('tiny_mf', '3', '3') = pgrec.predict('tiny_mf', 3, 3) AS same_prediction;
SELECT * FROM pgrec.recommend('tiny_mf', 'not-a-number');
-- the overloads resolve from column types in a LATERAL join
SELECT u.user_id, count(r.*) FROM (VALUES (1::smallint), (2::smallint)) AS u(user_id),
  LATERAL pgrec.recommend('tiny_mf', u.user_id, 3) r GROUP BY 1 ORDER BY 1;

-- text keys (text users, varchar items)
SET client_min_messages = warning;
CREATE TABLE text_ratings2 AS
SELECT 'user-' || user_id AS who, ('item-' || item_id)::varchar(20) AS what, rating FROM tiny;
SELECT model, n_users, n_items FROM pgrec.train('text_mf', 'text_ratings2', user_col => 'who', item_col => 'what',
  params => '{"factors": 4, "epochs": 5}');
SET client_min_messages = notice;
SELECT count(*), pg_typeof(min(item_id)), bool_and(item_id LIKE 'item-%') FROM pgrec.recommend('text_mf', 'user-1');
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.similar_items('text_mf', 'item-3', 4);
SELECT pgrec.predict('text_mf', 'user-1', 'item-2') BETWEEN 1 AND 5 AS in_range;
SELECT * FROM pgrec.recommend('text_mf', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*), count(user_id), count(user_key) FROM pgrec.user_embeddings('text_mf');

-- uuid user keys, integer item keys
SET client_min_messages = warning;
CREATE TABLE uuid_ratings AS
SELECT md5('u' || user_id)::uuid AS user_id, item_id, rating FROM tiny;
SELECT model, n_users, n_items FROM pgrec.train('uuid_mf', 'uuid_ratings', params => '{"factors": 4, "epochs": 5}');
SET client_min_messages = notice;
-- uuid users with integer items: the uuid overload cannot return the items as uuid and says
-- how to call
SELECT count(*) FROM pgrec.recommend('uuid_mf', md5('u1')::uuid);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.recommend('uuid_mf', md5('u1')::uuid::text);
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.similar_items('uuid_mf', 3, 4);
SELECT pgrec.predict('uuid_mf', md5('u1')::uuid::text, 2) IS NOT NULL AS known;

-- integer users, text items: the bigint overload cannot return text items and says how to call
SET client_min_messages = warning;
CREATE TABLE mixed_ratings AS SELECT user_id, 'item-' || item_id AS item_id, rating FROM tiny;
SELECT model FROM pgrec.train('mixed_mf', 'mixed_ratings', params => '{"factors": 4, "epochs": 5}');
SET client_min_messages = notice;
SELECT * FROM pgrec.recommend('mixed_mf', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.recommend('mixed_mf', 1::text);
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.recommend('mixed_mf', '1');
SELECT pgrec.predict('mixed_mf', 1, 'item-2') = pgrec.predict('mixed_mf', '1', 'item-2') AS mixed_predict;

-- embeddings: one row per user / item, factors values each
SELECT count(*), min(array_length(embedding, 1)), max(array_length(embedding, 1)), pg_typeof(min(user_id))
FROM pgrec.user_embeddings('tiny_mf');
SELECT count(*), count(DISTINCT item_id) FROM pgrec.item_embeddings('tiny_mf');
