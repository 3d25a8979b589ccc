-- pgrec demo on MovieLens-100K: train `mf` on the canonical u1.base split, then ask for
-- held-out accuracy and recommendations; then `ials` on the positive ratings for similar
-- movies. Run by `make demo`.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo '== Training biased matrix factorization on ml100k.u1_base (80,000 ratings)'
SELECT model, version, n_users, n_items, n_interactions, round(train_seconds::numeric, 2) AS seconds,
       round((metrics->>'train_rmse')::numeric, 4) AS train_rmse
FROM pgrec.train('movielens', 'ml100k.u1_base');

\echo '== Held-out accuracy on ml100k.u1_test (20,000 ratings)'
SELECT round((e->>'rmse')::numeric, 4) AS rmse, round((e->>'mae')::numeric, 4) AS mae,
       round((e->>'precision_at_k')::numeric, 4) AS precision_at_10,
       round((e->>'ndcg_at_k')::numeric, 4) AS ndcg_at_10
FROM pgrec.evaluate('movielens', 'ml100k.u1_test') AS e;

\echo '== Top-10 recommendations for user 1 (movies they have not rated)'
SELECT r.item_id AS movie_id, t.title, round(r.score::numeric, 2) AS predicted
FROM pgrec.recommend('movielens', 1, 10) r JOIN ml100k.title t ON t.movie_id = r.item_id;

\echo '== For similar items the README recommends ials on the positive ratings (>= 4)'
SELECT model, version, algorithm, n_interactions, round(train_seconds::numeric, 2) AS seconds
FROM pgrec.train('movielens_items', 'ml100k.u1_base', 'ials', params => '{"positive_threshold": 4}');

\echo '== Movies most similar to "Star Wars (1977)"'
SELECT s.item_id AS movie_id, t.title, round(s.similarity::numeric, 3) AS similarity
FROM ml100k.title sw, pgrec.similar_items('movielens_items', sw.movie_id, 10) s
JOIN ml100k.title t ON t.movie_id = s.item_id
WHERE sw.title = 'Star Wars (1977)';

\echo '== Movies most similar to "Toy Story (1995)"'
SELECT s.item_id AS movie_id, t.title, round(s.similarity::numeric, 3) AS similarity
FROM ml100k.title ts, pgrec.similar_items('movielens_items', ts.movie_id, 10) s
JOIN ml100k.title t ON t.movie_id = s.item_id
WHERE ts.title = 'Toy Story (1995)';

\echo '== The same from the co-occurrence of ratings (who rated both), for comparison'
SELECT s.item_id AS movie_id, t.title, round(s.similarity::numeric, 3) AS similarity
FROM ml100k.title ts, pgrec.similar_items('movielens_items', ts.movie_id, 5, method => 'cooccurrence') s
JOIN ml100k.title t ON t.movie_id = s.item_id
WHERE ts.title = 'Toy Story (1995)';

\echo '== Predicted rating of "Star Wars (1977)" by user 1'
SELECT round(pgrec.predict('movielens', 1, 50)::numeric, 2) AS predicted;
