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
-- the backend and its worker pool still work
SELECT model, version FROM pgrec.train('after_cancel', 'tiny', params => '{"factors": 4, "epochs": 2}');
SELECT pgrec.drop_model('after_cancel');
DROP TABLE big;
