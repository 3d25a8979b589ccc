-- Serving returns the right numbers, not only the right shapes: predict, recommend,
-- similar_items and evaluate against an independent computation in SQL from the stored
-- embeddings (pgrec.user_embeddings / item_embeddings) and the version's global mean and range.
SET client_min_messages = warning;
SELECT version FROM pgrec.train('values_mf', 'tiny', params => '{"factors": 5, "epochs": 20, "seed": 3}');
CREATE TEMP TABLE u AS SELECT user_id, bias, embedding FROM pgrec.user_embeddings('values_mf');
CREATE TEMP TABLE i AS SELECT item_id, bias, embedding FROM pgrec.item_embeddings('values_mf');
CREATE TEMP TABLE g AS
SELECT (metrics->>'global_mean')::float8 AS mean, (metrics->>'rating_min')::float8 AS lo,
       (metrics->>'rating_max')::float8 AS hi
FROM pgrec.models WHERE model = 'values_mf' AND active;
-- score(u, i) = global mean + user bias + item bias + <p_u, q_i>, in float8.
CREATE TEMP TABLE ref AS
SELECT u.user_id, i.item_id,
       g.mean + u.bias + i.bias + (SELECT sum(a * b) FROM unnest(u.embedding, i.embedding) AS t(a, b)) AS score,
       (SELECT sum(a * b) FROM unnest(i.embedding, i.embedding) AS t(a, b)) AS sq_norm,
       EXISTS (SELECT 1 FROM tiny t WHERE t.user_id = u.user_id AND t.item_id = i.item_id) AS seen
FROM u, i, g;
SELECT count(*) AS pairs, count(*) FILTER (WHERE NOT seen) AS unseen FROM ref;

-- predict: the score clipped to the training range.
SELECT count(*) AS predict_mismatches
FROM ref, g
WHERE abs(pgrec.predict('values_mf', ref.user_id, ref.item_id) - least(g.hi, greatest(g.lo, ref.score))) > 1e-4;

-- recommend: the k unseen items with the highest score, best first, with that score. Ties
-- within 1e-5 may come in either order, so items are compared by rank of the reference score.
SELECT count(*) AS recommend_mismatches
FROM (SELECT ref.user_id, ref.item_id, ref.score,
             row_number() OVER (PARTITION BY ref.user_id ORDER BY ref.score DESC, ref.item_id) AS rank
      FROM ref WHERE NOT ref.seen) want
JOIN LATERAL (SELECT r.item_id, r.score, o AS rank
              FROM pgrec.recommend('values_mf', want.user_id, 5) WITH ORDINALITY AS r(item_id, score, o)) got
  ON got.rank = want.rank
WHERE want.rank <= 5 AND abs(got.score - want.score) > 1e-4;
SELECT count(*) AS recommend_rows FROM (SELECT DISTINCT user_id FROM ref) t, pgrec.recommend('values_mf', t.user_id, 5);
-- exclude_seen => false ranks every item.
SELECT count(*) AS recommend_all_mismatches
FROM (SELECT ref.user_id, ref.score,
             row_number() OVER (PARTITION BY ref.user_id ORDER BY ref.score DESC, ref.item_id) AS rank
      FROM ref) want
JOIN LATERAL (SELECT r.score, o AS rank
              FROM pgrec.recommend('values_mf', want.user_id, 3, false) WITH ORDINALITY AS r(item_id, score, o)) got
  ON got.rank = want.rank
WHERE want.rank <= 3 AND abs(got.score - want.score) > 1e-4;

-- similar_items: cosine of the item vectors times n / (n + shrinkage), n being the neighbour's
-- training rows (shrinkage 25 unless given; 0 is the plain cosine), the item itself left out.
CREATE TEMP TABLE cos AS
SELECT a.item_id AS item, b.item_id AS other,
       (SELECT sum(x * y) FROM unnest(a.embedding, b.embedding) AS t(x, y))
         / sqrt((SELECT sum(x * x) FROM unnest(a.embedding) x) * (SELECT sum(y * y) FROM unnest(b.embedding) y)) AS cosine,
       (SELECT count(*) FROM tiny t WHERE t.item_id = b.item_id) AS n
FROM i a, i b WHERE a.item_id <> b.item_id;
SELECT v.label AS shrinkage, count(*) AS compared,
       count(*) FILTER (WHERE abs(got.similarity - want.sim) > 1e-4) AS similar_mismatches
FROM (VALUES ('default', NULL::real, 25.0::float8), ('0', 0, 0), ('5', 5, 5)) AS v(label, arg, eff)
CROSS JOIN LATERAL (
  SELECT item, sim, row_number() OVER (PARTITION BY item ORDER BY sim DESC, other) AS rank
  FROM (SELECT item, other, cosine * n / (n + v.eff) AS sim FROM cos) c) want
JOIN LATERAL (SELECT s.similarity, o AS rank
              FROM pgrec.similar_items('values_mf', want.item, 4, shrinkage => v.arg)
                   WITH ORDINALITY AS s(item_id, similarity, o)) got
  ON got.rank = want.rank
WHERE want.rank <= 4
GROUP BY v.label ORDER BY 1;
-- method => 'cooccurrence': |U_i & U_j| / sqrt(|U_i| |U_j|) over who rated what in training,
-- from no model vectors at all; items sharing no user are not neighbours.
CREATE TEMP TABLE co AS
SELECT a.item_id AS item, b.item_id AS other,
       count(*) / sqrt(max(na.n) * max(nb.n)) AS sim
FROM tiny a JOIN tiny b ON a.user_id = b.user_id AND a.item_id <> b.item_id
JOIN (SELECT item_id, count(*) AS n FROM tiny GROUP BY 1) na ON na.item_id = a.item_id
JOIN (SELECT item_id, count(*) AS n FROM tiny GROUP BY 1) nb ON nb.item_id = b.item_id
GROUP BY 1, 2;
SELECT count(*) AS compared, count(*) FILTER (WHERE abs(got.similarity - want.sim) > 1e-5) AS cooccurrence_mismatches
FROM (SELECT item, sim, row_number() OVER (PARTITION BY item ORDER BY sim DESC, other) AS rank FROM co) want
JOIN LATERAL (SELECT s.similarity, o AS rank
              FROM pgrec.similar_items('values_mf', want.item, 4, method => 'cooccurrence')
                   WITH ORDINALITY AS s(item_id, similarity, o)) got
  ON got.rank = want.rank
WHERE want.rank <= 4;
SELECT count(*) = (SELECT count(*) FROM co WHERE item = 7) AS only_items_sharing_users
FROM pgrec.similar_items('values_mf', 7, 100, method => 'cooccurrence');
SELECT bool_and(similarity BETWEEN -1.0001 AND 1.0001) AS in_range, bool_and(s.item_id <> 7) AS itself_excluded
FROM pgrec.similar_items('values_mf', 7, 19) s;

-- evaluate on held-out-like rows: RMSE and MAE of the clipped scores, and the ranking metrics
-- computed from the reference top-k (relevant: rating >= 4 in the evaluation rows, ranked among
-- the items each user did not see in training).
CREATE TEMP TABLE held AS
SELECT u AS user_id, i AS item_id, (1 + ((u * i + 2 * u) % 11) % 5)::real AS rating
FROM generate_series(1, 30) u, generate_series(1, 20) i WHERE (u + i) % 3 = 0;
SELECT pgrec.evaluate('values_mf', 'pg_temp.held', 2) AS e \gset
SELECT round(abs((:'e'::jsonb->>'rmse')::float8 - sqrt(avg((least(g.hi, greatest(g.lo, r.score)) - h.rating) ^ 2)))::numeric, 5) AS rmse_diff,
       round(abs((:'e'::jsonb->>'mae')::float8 - avg(abs(least(g.hi, greatest(g.lo, r.score)) - h.rating)))::numeric, 5) AS mae_diff
FROM held h JOIN ref r USING (user_id, item_id), g;
WITH top AS (
  SELECT user_id, item_id FROM (
    SELECT user_id, item_id, row_number() OVER (PARTITION BY user_id ORDER BY score DESC, item_id) AS rank
    FROM ref WHERE NOT seen) t WHERE rank <= 2),
rel AS (SELECT user_id, item_id FROM held WHERE rating >= 4),
per_user AS (
  SELECT r.user_id, count(*) AS n_rel,
         (SELECT count(*) FROM top t JOIN rel x USING (user_id, item_id) WHERE t.user_id = r.user_id) AS hits,
         (SELECT coalesce(sum(1 / log(2, rank + 1)), 0) FROM (
            SELECT item_id, row_number() OVER (ORDER BY score DESC, item_id) AS rank
            FROM ref WHERE NOT seen AND ref.user_id = r.user_id) t
          WHERE rank <= 2 AND item_id IN (SELECT item_id FROM rel WHERE rel.user_id = r.user_id)) AS dcg
  FROM rel r GROUP BY r.user_id)
SELECT round(abs((:'e'::jsonb->>'precision_at_k')::float8 - avg(hits / 2.0))::numeric, 5) AS precision_diff,
       round(abs((:'e'::jsonb->>'recall_at_k')::float8 - avg(hits::float8 / n_rel))::numeric, 5) AS recall_diff,
       round(abs((:'e'::jsonb->>'hit_rate_at_k')::float8 - avg((hits > 0)::int))::numeric, 5) AS hit_rate_diff,
       round(abs((:'e'::jsonb->>'ndcg_at_k')::float8 - avg(dcg / (SELECT sum(1 / log(2, k + 1)) FROM generate_series(1, least(2, n_rel)) k)))::numeric, 5) AS ndcg_diff,
       (:'e'::jsonb->>'n_users_ranked')::int = count(*) AS same_users,
       count(*) FILTER (WHERE n_rel > 2) > 0 AND count(*) FILTER (WHERE n_rel < 2) > 0 AS users_with_more_and_fewer_relevant_than_k
FROM per_user;
-- The history names every measurement: train_rmse is the root of the squared-error train_loss.
SELECT count(*) AS epochs,
       bool_and(abs((h.metrics->>'train_rmse')::float8 - sqrt(h.train_loss)) < 1e-9
                AND (h.metrics->>'train_loss')::float8 = h.train_loss) AS named_metrics_match
FROM pgrec.training_history h JOIN pgrec.model_versions v ON v.id = h.version_id WHERE v.model = 'values_mf';
SELECT pgrec.drop_model('values_mf');
