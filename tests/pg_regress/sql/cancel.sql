-- statement_timeout stops a long training within about a second; the backend keeps working
-- and nothing is written.
SET client_min_messages = warning;
CREATE TABLE big AS SELECT * FROM pgrec.synthetic_ratings(20000, 5000, 1000000, seed => 5);
SELECT count(*) FROM big;
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '1s';
SELECT * FROM pgrec.train('big_model', 'big', params => '{"epochs": 5000, "factors": 64}');
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT extract(epoch FROM clock_timestamp() - :'started'::timestamptz) < 2.5 AS stopped_within_two_seconds;
SELECT count(*) FROM pgrec.models WHERE model = 'big_model';
-- pg_cancel_backend from another session stops it as quickly (the training runs over dblink)
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('canceller', format('dbname=%s port=%s host=%s', current_database(), current_setting('port'),
                                          split_part(current_setting('unix_socket_directories'), ',', 1)));
SELECT dblink_send_query('canceller', $$SELECT version FROM pgrec.train('cancel_me', 'big', params => '{"epochs": 5000, "factors": 64}')$$);
SELECT pg_sleep(1.5);
SELECT clock_timestamp() AS cancelled_at \gset
SELECT count(*) AS cancelled FROM (SELECT pg_cancel_backend(pid) FROM pg_stat_activity
  WHERE query LIKE '%cancel_me%' AND pid <> pg_backend_pid() AND state = 'active') c;
DO $$ BEGIN WHILE dblink_is_busy('canceller') = 1 LOOP PERFORM pg_sleep(0.02); END LOOP; END $$;
SELECT extract(epoch FROM clock_timestamp() - :'cancelled_at'::timestamptz) < 1.5 AS stopped_within_a_second;
SELECT * FROM dblink_get_result('canceller', false) AS t(version int);
SELECT dblink_error_message('canceller');
SELECT * FROM dblink_get_result('canceller', false) AS t(version int);
-- that backend still works, and nothing was written
SELECT * FROM dblink('canceller', 'SELECT 1') AS t(one int);
SELECT count(*) FROM pgrec.models WHERE model = 'cancel_me';
SELECT dblink_disconnect('canceller');
-- the backend and its worker pool still work
SELECT model, version FROM pgrec.train('after_cancel', 'tiny', params => '{"factors": 4, "epochs": 2}');
SELECT pgrec.drop_model('after_cancel');
DROP TABLE big;
-- Building the approximate-search index ("ann": "ivf", with the serving file on the first
-- call; here 4,000 lists over 123k items: 6.1 s uncancelled when written, against 0.17 s for
-- the first call without an index) stops as quickly; the next call builds it.
CREATE TABLE wide AS SELECT * FROM pgrec.synthetic_ratings(3000, 300000, 400000, seed => 6);
SELECT n_items > 100000 AS many_items FROM pgrec.train('wide_ivf', 'wide', 'ials', rating_col => NULL,
  params => '{"epochs": 1, "factors": 32, "ann": "ivf", "ivf_lists": 4000}');
SELECT min(item_id) AS first_item FROM pgrec.item_embeddings('wide_ivf') \gset
SELECT clock_timestamp() AS started \gset
SET statement_timeout = '1s';
SELECT count(*) FROM pgrec.similar_items('wide_ivf', :first_item, 10);
\echo :LAST_ERROR_SQLSTATE
RESET statement_timeout;
SELECT extract(epoch FROM clock_timestamp() - :'started'::timestamptz) < 2.5 AS index_build_stopped_within_two_seconds;
SET pgrec.ivf_probes = 40;
SELECT count(*) AS answers_after_build FROM pgrec.similar_items('wide_ivf', :first_item, 10);
RESET pgrec.ivf_probes;
SELECT pgrec.drop_model('wide_ivf');
DROP TABLE wide;
