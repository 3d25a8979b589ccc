-- pgrec.split: random (seeded, independent of row order), temporal (latest share per user) and
-- leave_one_out (latest row per user), with bigint keys; split_text for other key types.
SET client_min_messages = warning;
CREATE TABLE s_events AS
SELECT u AS user_id, i AS item_id, (u + i) % 5 + 1 AS rating,
       timestamp '2026-01-01' + make_interval(days => i) AS seen_at
FROM generate_series(1, 50) u, generate_series(1, 20) i WHERE (u * i) % 3 <> 0;
-- random: about test_fraction of the rows, the same rows for the same seed whatever the order
SELECT count(*) AS n_rows, count(*) FILTER (WHERE is_test) BETWEEN 0.15 * count(*) AND 0.25 * count(*) AS about_20_percent
FROM pgrec.split('s_events');
SELECT (SELECT array_agg((user_id, item_id) ORDER BY user_id, item_id) FROM pgrec.split('s_events', seed => 7) WHERE is_test)
     = (SELECT array_agg((user_id, item_id) ORDER BY user_id, item_id)
        FROM pgrec.split('SELECT * FROM s_events ORDER BY random()', seed => 7) WHERE is_test) AS order_independent,
       (SELECT count(*) FROM pgrec.split('s_events', seed => 7) WHERE is_test)
     <> (SELECT count(*) FROM pgrec.split('s_events', seed => 8) WHERE is_test)
    OR (SELECT array_agg((user_id, item_id) ORDER BY user_id, item_id) FROM pgrec.split('s_events', seed => 7) WHERE is_test)
    <> (SELECT array_agg((user_id, item_id) ORDER BY user_id, item_id) FROM pgrec.split('s_events', seed => 8) WHERE is_test) AS seed_matters;
-- temporal: every test row of a user is later than every training row of that user
SELECT bool_and(t.first_test > t.last_train) AS test_after_train, count(*) AS users
FROM (SELECT user_id, min(e.seen_at) FILTER (WHERE is_test) AS first_test,
             max(e.seen_at) FILTER (WHERE NOT is_test) AS last_train
      FROM pgrec.split('s_events', 'temporal', 0.25, time_col => 'seen_at') s
      JOIN s_events e USING (user_id, item_id) GROUP BY user_id) t;
-- leave_one_out: exactly the latest row of each user
SELECT count(*) AS test_rows, count(DISTINCT user_id) AS users,
       bool_and(item_id = (SELECT max(item_id) FROM s_events e WHERE e.user_id = s.user_id)) AS latest
FROM pgrec.split('s_events', 'leave_one_out', time_col => 'seen_at') s WHERE is_test;
-- implicit sources (rating_col NULL) and text keys
SELECT count(*) FILTER (WHERE rating = 1) = count(*) AS all_ones
FROM pgrec.split('s_events', rating_col => NULL);
SELECT pg_typeof(user_id) AS key_type, count(*) > 0 AS has_rows
FROM pgrec.split_text('SELECT ''u'' || user_id AS user_id, item_id, rating FROM s_events') GROUP BY 1;
-- errors
SELECT * FROM pgrec.split('SELECT ''u'' || user_id AS user_id, item_id, rating FROM s_events');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.split('s_events', 'by_magic');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.split('s_events', 'random', 1.5);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.split('s_events', 'temporal');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.split('no_such_table');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.split('s_events', user_col => 'nope');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM pgrec.split('WITH d AS (DELETE FROM s_events RETURNING *) SELECT * FROM d');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) AS rows_kept FROM s_events;
