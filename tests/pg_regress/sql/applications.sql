-- Serving for applications (issue 12): score a caller's list, recommend only among candidates,
-- many users in one call, similar users, and uuid keys in and out. Every answer is checked
-- against the one-user functions or plain SQL over the stored embeddings.
SET client_min_messages = warning;
SELECT version FROM pgrec.train('app_mf', 'SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test',
                                params => '{"factors": 16, "epochs": 10}');
SELECT version FROM pgrec.train('app_ials', 'SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test',
                                'ials', params => '{"positive_threshold": 4}');
SET client_min_messages = notice;

-- score: the caller's items, best first, each once, with recommend's score; seen items too.
SELECT count(*) AS rows, bool_and(s.score = r.score) AS same_score_as_recommend
FROM pgrec.score('app_mf', 1, ARRAY[50, 181, 1, 50, NULL, 99999]::bigint[]) s
JOIN pgrec.recommend('app_mf', 1, 2000, exclude_seen => false) r USING (item_id);
SELECT array_agg(item_id ORDER BY ordinality) = (
         SELECT array_agg(item_id ORDER BY score DESC, item_id)
         FROM pgrec.recommend('app_mf', 1, 2000, exclude_seen => false)
         WHERE item_id IN (50, 181, 1, 7, 300)) AS best_first
FROM pgrec.score('app_mf', 1, ARRAY[300, 7, 1, 181, 50]::bigint[]) WITH ORDINALITY;
SELECT count(*) AS empty_list FROM pgrec.score('app_mf', 1, ARRAY[]::bigint[]);
SELECT count(*) AS unknown_user FROM pgrec.score('app_mf', 99999, ARRAY[1, 2]::bigint[]);
SELECT item_id, round(score::numeric, 4) = round(pgrec.predict('app_ials', '1', item_id)::numeric, 4) AS is_prediction
FROM pgrec.score('app_ials', '1', ARRAY['50', '181']) ORDER BY item_id;

-- recommend(..., candidates): the full ranking restricted to the candidates, seen items
-- excluded unless asked, unknown and NULL candidates skipped.
CREATE TEMP TABLE cands AS
SELECT array_agg(movie_id) AS ids FROM ml100k.movies WHERE 'Comedy' = ANY (genres);
SELECT (SELECT array_agg(item_id ORDER BY ordinality)
        FROM pgrec.recommend('app_ials', 7, 5, candidates => ids || ARRAY[NULL, 99999]::bigint[]) WITH ORDINALITY)
     = (SELECT array_agg(item_id) FROM (
          SELECT item_id FROM pgrec.recommend('app_ials', 7, 5000) WITH ORDINALITY
          WHERE item_id = ANY (ids) ORDER BY ordinality LIMIT 5) x) AS comedies_in_full_order
FROM cands;
SELECT count(*) FILTER (WHERE item_id IN (SELECT item_id FROM ml100k.split WHERE seed = 1 AND NOT is_test AND user_id = 7)) AS seen_excluded,
       (SELECT count(*) FROM pgrec.recommend('app_ials', 7, 2000, false, ARRAY[1, 4, 7, 50]::bigint[])) AS seen_included
FROM pgrec.recommend('app_ials', 7, 2000, candidates => ARRAY[1, 4, 7, 50]::bigint[]);
SELECT count(*) AS no_candidates FROM pgrec.recommend('app_ials', 7, 5, candidates => ARRAY[]::bigint[]);
-- recommend is no longer STRICT (candidates may be NULL), yet NULL arguments still give no rows
SELECT (SELECT count(*) FROM pgrec.recommend('app_ials', NULL::bigint)) AS null_user,
       (SELECT count(*) FROM pgrec.recommend(NULL, 7::bigint)) AS null_model,
       (SELECT count(*) FROM pgrec.recommend('app_ials', 7::bigint, NULL)) AS null_k,
       (SELECT count(*) FROM pgrec.recommend('app_ials', '7', 3, NULL)) AS null_exclude,
       (SELECT count(*) FROM pgrec.recommend('app_ials', NULL::uuid)) AS null_uuid;
SELECT count(*), pg_typeof(min(item_id)) FROM pgrec.recommend('app_ials', '7', 3, candidates => ARRAY['1', '4', '50', '181']);

-- recommend_batch: for 300 users (five chunks of the core's matrix product, the last partial)
-- the same items in the same order as one recommend call each, scores within float rounding;
-- ranks from 1; unknown and repeated users once at most; the thread count changes nothing.
CREATE TEMP TABLE batch_users AS SELECT array_agg(u ORDER BY u DESC) AS ids FROM generate_series(1, 300) u;
CREATE TEMP TABLE singles AS
SELECT u AS user_id, r.ordinality::int AS rank, r.item_id, r.score
FROM generate_series(1, 300) u, LATERAL pgrec.recommend('app_ials', u::bigint, 10) WITH ORDINALITY r;
SET pgrec.threads = 2;
CREATE TEMP TABLE batch2 AS
SELECT b.* FROM batch_users, LATERAL pgrec.recommend_batch('app_ials', ids || ARRAY[5, 99999, NULL]::bigint[], 10) b;
SET pgrec.threads = 1;
CREATE TEMP TABLE batch1 AS
SELECT b.* FROM batch_users, LATERAL pgrec.recommend_batch('app_ials', ids, 10) b;
RESET pgrec.threads;
SELECT count(*) AS rows, count(DISTINCT user_id) AS users, min(rank), max(rank) FROM batch2;
SELECT count(*) AS differs_from_singles FROM singles s FULL JOIN batch2 b USING (user_id, rank)
WHERE s.item_id IS DISTINCT FROM b.item_id OR abs(s.score - b.score) > 1e-4;
SELECT count(*) AS differs_across_threads FROM batch1 a FULL JOIN batch2 b USING (user_id, rank)
WHERE a.item_id IS DISTINCT FROM b.item_id OR a.score IS DISTINCT FROM b.score;
WITH one AS (SELECT u AS user_id, r.ordinality::int AS rank, r.item_id, r.score
             FROM generate_series(1, 20) u, LATERAL pgrec.recommend('app_mf', u::bigint, 5) WITH ORDINALITY r),
     batch AS (SELECT * FROM pgrec.recommend_batch('app_mf', ARRAY(SELECT generate_series(1, 20))::bigint[], 5))
SELECT count(*) AS rating_model_batch_differs FROM one FULL JOIN batch b USING (user_id, rank)
WHERE one.item_id IS DISTINCT FROM b.item_id OR abs(one.score - b.score) > 1e-4;
SELECT count(*), pg_typeof(min(user_id)) AS user_type, pg_typeof(min(item_id)) AS item_type,
       array_agg(item_id ORDER BY rank) FILTER (WHERE user_id = '1')
       = (SELECT array_agg(item_id ORDER BY ordinality) FROM pgrec.recommend('app_ials', '1', 3, false) WITH ORDINALITY) AS seen_kept_as_asked
FROM pgrec.recommend_batch('app_ials', ARRAY['1', '2'], 3, exclude_seen => false);

-- similar_users: itself excluded, best first, the cosine of the stored user vectors.
SELECT count(*) AS rows, count(*) FILTER (WHERE user_id = 1) AS itself,
       bool_and(similarity BETWEEN -1 AND 1) AS in_range
FROM pgrec.similar_users('app_ials', 1, 20);
WITH e AS (SELECT user_id, embedding FROM pgrec.user_embeddings('app_ials')),
     top AS (SELECT user_id, similarity FROM pgrec.similar_users('app_ials', 1, 1))
SELECT abs(top.similarity - (SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b))
                             FROM unnest(q.embedding, n.embedding) x(a, b))) < 1e-5 AS is_cosine,
       top.user_id = (SELECT n2.user_id FROM e n2, e q2 WHERE q2.user_id = 1 AND n2.user_id <> 1
                      ORDER BY (SELECT sum(a * b) / sqrt(sum(a * a) * sum(b * b)) FROM unnest(q2.embedding, n2.embedding) x(a, b)) DESC
                      LIMIT 1) AS is_nearest
FROM top, e q, e n WHERE q.user_id = 1 AND n.user_id = top.user_id;
SELECT count(*), pg_typeof(min(user_id)) FROM pgrec.similar_users('app_ials', '1', 3);

-- uuid keys on both sides: uuid in, uuid out, joins to the application's uuid columns.
SET client_min_messages = warning;
CREATE TABLE app_users AS SELECT u AS user_id, md5('user' || u)::uuid AS user_uuid FROM generate_series(1, 943) u;
CREATE TABLE app_items AS SELECT movie_id, md5('item' || movie_id)::uuid AS item_uuid, title FROM ml100k.movies;
CREATE TABLE app_events AS
SELECT au.user_uuid AS user_id, ai.item_uuid AS item_id, s.rating, s.user_id AS user_int, s.item_id AS item_int,
       dense_rank() OVER (ORDER BY au.user_uuid) AS user_rank, dense_rank() OVER (ORDER BY ai.item_uuid) AS item_rank
FROM ml100k.split s JOIN app_users au ON au.user_id = s.user_id JOIN app_items ai ON ai.movie_id = s.item_id
WHERE s.seed = 1 AND NOT s.is_test;
SELECT version FROM pgrec.train('app_uuid', 'app_events', 'ials', params => '{"positive_threshold": 4}');
-- the same rows with integer keys in the uuids' order (pgrec numbers keys in key order): the
-- same model
SELECT version FROM pgrec.train('app_int', 'app_events', 'ials', user_col => 'user_rank', item_col => 'item_rank',
                                params => '{"positive_threshold": 4}');
SELECT DISTINCT user_rank FROM app_events WHERE user_int = 1 \gset
SELECT DISTINCT item_rank AS star_wars_rank FROM app_events WHERE item_int = 50 \gset
SET client_min_messages = notice;
SELECT md5('user1')::uuid AS u1, md5('item50')::uuid AS star_wars \gset
SELECT pg_typeof(item_id) AS item_type, count(*), count(ai.title) AS joined
FROM pgrec.recommend('app_uuid', :'u1'::uuid, 5) r LEFT JOIN app_items ai ON ai.item_uuid = r.item_id GROUP BY 1;
-- the same items as the integer model of the same rows
SELECT (SELECT array_agg(ai.movie_id::bigint ORDER BY ordinality) FROM pgrec.recommend('app_uuid', :'u1'::uuid, 5) WITH ORDINALITY r
        JOIN app_items ai ON ai.item_uuid = r.item_id)
     = (SELECT array_agg((SELECT DISTINCT e.item_int::bigint FROM app_events e WHERE e.item_rank = r.item_id) ORDER BY ordinality)
        FROM pgrec.recommend('app_int', :user_rank, 5) WITH ORDINALITY r) AS same_as_integer_model;
SELECT ai.title FROM pgrec.similar_items('app_uuid', :'star_wars'::uuid, 2) s JOIN app_items ai ON ai.item_uuid = s.item_id;
SELECT pg_typeof(item_id), count(*) FROM pgrec.recommend_for_items('app_uuid', ARRAY[:'star_wars'::uuid], 3) GROUP BY 1;
SELECT pg_typeof(item_id), count(*) FROM pgrec.score('app_uuid', :'u1'::uuid, ARRAY[:'star_wars'::uuid, md5('nope')::uuid]) GROUP BY 1;
SELECT pg_typeof(user_id), pg_typeof(item_id), count(*)
FROM pgrec.recommend_batch('app_uuid', ARRAY[:'u1'::uuid, md5('user2')::uuid], 3) GROUP BY 1, 2;
SELECT pg_typeof(user_id), count(*) FROM pgrec.similar_users('app_uuid', :'u1'::uuid, 3) GROUP BY 1;
SELECT pgrec.predict('app_uuid', :'u1'::uuid, :'star_wars'::uuid) = pgrec.predict('app_int', :user_rank, :star_wars_rank) AS predict_same;
SELECT count(*) FROM pgrec.recommend('app_uuid', :'u1'::uuid, 3, candidates => ARRAY[:'star_wars'::uuid]);

-- Errors: k, and bigint results from a model whose keys are uuid (keys_and_serving.sql has
-- the other way round).
\set VERBOSITY default
SELECT * FROM pgrec.recommend_batch('app_ials', ARRAY[1]::bigint[], 0);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.similar_users('app_ials', 1, -1);
SELECT * FROM pgrec.similar_items('app_uuid', 50, 3);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.recommend_batch('app_uuid', ARRAY[1]::bigint[]);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse


-- pca: one row per item, the requested number of coordinates, centred, the components in
-- order of spread.
SELECT count(*) AS rows, min(cardinality(coords)) AS dims, count(id) AS with_id, count(key) AS with_key
FROM pgrec.pca('app_ials', 'item', 3);
SELECT abs(avg(coords[1])) < 1e-3 AS centred,
       var_samp(coords[1]) >= var_samp(coords[2]) AND var_samp(coords[2]) >= var_samp(coords[3]) AS ordered
FROM pgrec.pca('app_ials', components => 3);
-- The first coordinate is the projection on the top eigenvector of the covariance: its
-- variance equals the first explained share times the total variance of the embeddings.
WITH e AS (SELECT i, x FROM pgrec.item_embeddings('app_ials') ie, unnest(ie.embedding) WITH ORDINALITY u(x, i)),
     total AS (SELECT sum(v) AS v FROM (SELECT var_pop(x) AS v FROM e GROUP BY i) t),
     s AS (SELECT pgrec.embedding_stats('app_ials') AS j)
SELECT abs((SELECT var_pop(coords[1]) FROM pgrec.pca('app_ials')) / total.v
           - (s.j->'items'->'explained_variance'->>0)::float8) < 1e-3 AS first_share_matches
FROM total, s;
SELECT count(*) AS user_rows FROM pgrec.pca('app_ials', 'user', 2);
SELECT jsonb_object_keys(pgrec.embedding_stats('app_ials')->'items') AS item_stats ORDER BY 1;
SELECT (j->'items'->>'rows')::int AS items, (j->'users'->>'rows')::int AS users,
       (j->'items'->>'collapsed')::bool AS collapsed, jsonb_array_length(j->'items'->'explained_variance') AS components,
       (j->'items'->'norm'->>'min')::float8 <= (j->'items'->'norm'->>'median')::float8 AS norms_ordered
FROM pgrec.embedding_stats('app_ials') j;
\set VERBOSITY default
SELECT * FROM pgrec.pca('app_ials', 'items');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.pca('app_ials', 'item', 0);
SELECT * FROM pgrec.pca('app_ials', 'item', 65);
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse

-- serving_precision f16: the same training, scans read f16 item vectors (half the bytes); the
-- top 10 stay those of f32 but for near-ties, scores within f16 rounding.
SET client_min_messages = warning;
SELECT version FROM pgrec.train('app_f16', 'SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test',
                                'ials', params => '{"positive_threshold": 4, "serving_precision": "f16"}');
SET client_min_messages = notice;
SELECT j->>'serving_precision' AS f16_model, (SELECT pgrec.embedding_stats('app_ials')->>'serving_precision') AS f32_model
FROM pgrec.embedding_stats('app_f16') j;
SELECT params->>'serving_precision' AS stored FROM pgrec.model_versions WHERE model = 'app_f16';
WITH a AS (SELECT u, r.* FROM generate_series(1, 200) u, LATERAL pgrec.recommend('app_ials', u::bigint, 10) r),
     b AS (SELECT u, r.* FROM generate_series(1, 200) u, LATERAL pgrec.recommend('app_f16', u::bigint, 10) r)
SELECT count(*) AS pairs, round(count(b.item_id)::numeric / count(*), 2) >= 0.97 AS recall_at_least_097,
       max(abs(a.score - b.score)) < 0.01 AS scores_close
FROM a LEFT JOIN b USING (u, item_id);
WITH a AS (SELECT i, s.* FROM generate_series(1, 100) i, LATERAL pgrec.similar_items('app_ials', i::bigint, 10) s),
     b AS (SELECT i, s.* FROM generate_series(1, 100) i, LATERAL pgrec.similar_items('app_f16', i::bigint, 10) s)
SELECT round(count(b.item_id)::numeric / count(*), 2) >= 0.97 AS similar_recall_at_least_097
FROM a LEFT JOIN b USING (i, item_id);
-- predict and the other paths read the f32 vectors: the same answers
SELECT bool_and(pgrec.predict('app_f16', u, 50) = pgrec.predict('app_ials', u, 50)) AS predict_unchanged
FROM generate_series(1, 50) u;
-- serving_precision int8: scans read int8 codes (a quarter of the bytes) and re-score their
-- candidates from the f32 vectors: the same rows and the same scores as f32, bit for bit.
SET client_min_messages = warning;
SELECT version FROM pgrec.train('app_int8', 'SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test',
                                'ials', params => '{"positive_threshold": 4, "serving_precision": "int8"}');
SET client_min_messages = notice;
SELECT j->>'serving_precision' AS int8_model, (SELECT params->>'serving_precision' FROM pgrec.model_versions WHERE model = 'app_int8') AS stored
FROM pgrec.embedding_stats('app_int8') j;
WITH a AS (SELECT u, r.* FROM generate_series(1, 300) u, LATERAL pgrec.recommend('app_ials', u::bigint, 10) r),
     b AS (SELECT u, r.* FROM generate_series(1, 300) u, LATERAL pgrec.recommend('app_int8', u::bigint, 10) r)
SELECT (SELECT count(*) FROM a) AS rows, (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b) d) AS differ,
       (SELECT count(*) FROM (SELECT * FROM b EXCEPT SELECT * FROM a) d) AS extra;
WITH a AS (SELECT u, r.* FROM generate_series(1, 50) u,
             LATERAL pgrec.recommend('app_ials', u::bigint, 25, exclude => ARRAY[50, 100, 181]::bigint[], exclude_seen => false) r),
     b AS (SELECT u, r.* FROM generate_series(1, 50) u,
             LATERAL pgrec.recommend('app_int8', u::bigint, 25, exclude => ARRAY[50, 100, 181]::bigint[], exclude_seen => false) r)
SELECT (SELECT count(*) FROM a) AS rows_with_exclusions, (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b) d) AS differ;
WITH a AS (SELECT i, sh, s.* FROM generate_series(1, 200) i, unnest(ARRAY[0, 25]) sh,
             LATERAL pgrec.similar_items('app_ials', i::bigint, 10, shrinkage => sh) s),
     b AS (SELECT i, sh, s.* FROM generate_series(1, 200) i, unnest(ARRAY[0, 25]) sh,
             LATERAL pgrec.similar_items('app_int8', i::bigint, 10, shrinkage => sh) s)
SELECT (SELECT count(*) FROM a) AS similar_rows, (SELECT count(*) FROM (SELECT * FROM a EXCEPT SELECT * FROM b) d) AS differ;
-- recommend_batch runs each user's int8 search as recommend does (f32 recommend's rows)
SELECT count(*) AS batch_rows, count(*) FILTER (WHERE a.item_id = b.item_id AND a.score = b.score) AS same
FROM (SELECT u AS user_id, row_number() OVER (PARTITION BY u ORDER BY r.score DESC, r.item_id) AS rank, r.item_id, r.score
      FROM generate_series(1, 5) u, LATERAL pgrec.recommend('app_ials', u::bigint, 10) r) a
JOIN pgrec.recommend_batch('app_int8', ARRAY[1, 2, 3, 4, 5]::bigint[], 10) b USING (user_id, rank);
SELECT pgrec.drop_model('app_int8');
\set VERBOSITY default
SELECT version FROM pgrec.train('app_f8', 'SELECT 1 AS user_id, 1 AS item_id, 5 AS rating', 'ials',
                                params => '{"serving_precision": "f8"}');
\echo :LAST_ERROR_SQLSTATE
\set VERBOSITY terse
SELECT pgrec.drop_model('app_f16');

-- One copy per server: the model is served from its shared serving file; a new connection with
-- pgrec.shared_serving off keeps a private copy and gives the same answers.
SELECT pgrec.embedding_stats('app_ials')->>'served_from' AS served_from;
CREATE TABLE shared_answers AS
SELECT u, r.* FROM generate_series(1, 50) u, LATERAL pgrec.recommend('app_ials', u::bigint, 10) r;
\c
SET pgrec.shared_serving = off;
SELECT pgrec.embedding_stats('app_ials')->>'served_from' AS served_from;
SELECT count(*) AS rows, count(*) FILTER (WHERE p.score IS DISTINCT FROM s.score) AS differ
FROM shared_answers s FULL JOIN (
  SELECT u, r.* FROM generate_series(1, 50) u, LATERAL pgrec.recommend('app_ials', u::bigint, 10) r) p
  USING (u, item_id);
DROP TABLE shared_answers;
\c

-- Dropping a model removes its serving files.
SELECT id AS ials_vid FROM pgrec.model_versions WHERE model = 'app_ials' AND active \gset
CREATE FUNCTION serving_files(vid bigint) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM pg_ls_dir('pgrec_serving/' || (SELECT oid FROM pg_database WHERE datname = current_database()), true, false) f
  WHERE f LIKE vid || '\_%.model' $$;
SELECT serving_files(:ials_vid) AS files_before_drop;
SET client_min_messages = warning;
SELECT count(pgrec.drop_model(m)) FROM unnest(ARRAY['app_mf', 'app_ials', 'app_uuid', 'app_int']) m;
DROP TABLE app_users, app_items, app_events;
SELECT serving_files(:ials_vid) AS files_after_drop;
DROP FUNCTION serving_files(bigint);
