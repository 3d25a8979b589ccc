-- Fold-in without retraining: recommend_for_items for an anonymous basket (nothing stored) and
-- fold_in, which adds users to the active version from their histories.
SET client_min_messages = warning;

-- Two groups of items (parity); users of group g clicked the items of group g.
CREATE TABLE f_clicks AS
SELECT u AS user_id, i AS item_id FROM generate_series(0, 29) u, generate_series(0, 19) i
WHERE u % 2 = i % 2 AND (u + i) % 5 <> 0;
SELECT n_users FROM pgrec.train('f_ials', 'f_clicks', 'ials', rating_col => NULL,
                                params => '{"factors": 8, "epochs": 10}');
-- A basket of even items gets even recommendations, and never its own items.
SELECT count(*) AS recommended, count(*) FILTER (WHERE item_id % 2 = 0) AS even,
       count(*) FILTER (WHERE item_id IN (0, 2, 4)) AS basket_items
FROM pgrec.recommend_for_items('f_ials', ARRAY[0, 2, 4]::bigint[], 5);
SELECT count(*) FILTER (WHERE item_id::int % 2 = 1) AS odd
FROM pgrec.recommend_for_items('f_ials', ARRAY['1', '3', '5'], 5);
-- unknown items are skipped (NOTICE), an all-unknown basket gives no rows
SELECT count(*) FROM pgrec.recommend_for_items('f_ials', ARRAY[999]::bigint[]);
-- nothing was stored
SELECT n_users FROM pgrec.models WHERE model = 'f_ials';

-- fold_in: two new users (one per group, half of its items each) and a replaced one become
-- servable at once, and are recommended the rest of their group
CREATE TABLE f_new AS
SELECT 100 AS user_id, i AS item_id FROM generate_series(0, 9, 2) i
UNION ALL SELECT 101, i FROM generate_series(1, 9, 2) i
UNION ALL SELECT 0, i FROM generate_series(1, 9, 2) i;  -- user 0 now clicks odd items
SELECT pgrec.fold_in('f_ials', 'f_new', rating_col => NULL) AS folded;
SELECT n_users, (metrics->>'n_folded_in')::int AS n_folded_in FROM pgrec.models WHERE model = 'f_ials';
SELECT u, count(*) AS recommended, count(*) FILTER (WHERE item_id % 2 = u % 2) AS own_group
FROM unnest(ARRAY[100, 101]) u CROSS JOIN LATERAL pgrec.recommend('f_ials', u, 5) r
GROUP BY u ORDER BY u;
-- the replaced user 0 follows its new history: its seen items are the odd ones it folded in
SELECT count(*) FILTER (WHERE item_id % 2 = 1) AS odd_recommended_to_user_0
FROM pgrec.recommend('f_ials', 0, 5);
SELECT count(*) FILTER (WHERE item_id IN (1, 3, 5, 7, 9)) AS folded_items_recommended
FROM pgrec.recommend('f_ials', 0, 10);

-- a folded-in user of a model trained on ratings (als) gets ratings near its own
CREATE TABLE f_ratings AS
SELECT u AS user_id, i AS item_id, CASE WHEN u % 2 = i % 2 THEN 5 ELSE 1 END::real AS rating
FROM generate_series(0, 29) u, generate_series(0, 19) i WHERE (u + 2 * i) % 3 <> 0;
SELECT n_users FROM pgrec.train('f_als', 'f_ratings', 'als', params => '{"factors": 4, "epochs": 10}');
CREATE TABLE f_rater AS SELECT 500 AS user_id, i AS item_id, CASE WHEN i % 2 = 0 THEN 5 ELSE 1 END::real AS rating
FROM generate_series(0, 11) i;
SELECT pgrec.fold_in('f_als', 'f_rater');
SELECT pgrec.predict('f_als', 500, 18) > 4 AS likes_even, pgrec.predict('f_als', 500, 19) < 2 AS dislikes_odd;

-- errors: two_tower cannot fold in; keys of the wrong kind; not the owner
SELECT n_users FROM pgrec.train('f_tt', 'f_ratings', 'two_tower', params => '{"epochs": 1, "factors": 4}');
SELECT * FROM pgrec.recommend_for_items('f_tt', ARRAY[0, 2]::bigint[]);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.fold_in('f_ials', 'SELECT user_id::text AS user_id, item_id FROM f_new', rating_col => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.fold_in('f_als', 'f_rater', rating_col => NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.fold_in('no_such_model', 'f_new');
\echo :LAST_ERROR_SQLSTATE
SELECT pgrec.drop_model('f_ials'), pgrec.drop_model('f_als'), pgrec.drop_model('f_tt');
