-- 20M synthetic ratings in the shape of MovieLens-20M: load throughput, epoch time, save time
-- and the backend's peak memory. Run by benches/run_sql_bench.sh.
\pset footer off
\timing on
SET client_min_messages = warning;
DROP TABLE IF EXISTS synth20m;
CREATE UNLOGGED TABLE synth20m AS
SELECT * FROM pgrec.synthetic_ratings(138493, 26744, 20000000, rank => 16, noise => 0.5, seed => 2024);
\timing off
SELECT count(*) AS ratings, pg_size_pretty(pg_total_relation_size('synth20m')) AS table_size FROM synth20m;
\c
SET client_min_messages = warning;
SELECT pg_backend_pid() AS pid \gset
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024 AS baseline_peak_mb \gset
SELECT n_interactions, round((metrics->>'load_seconds')::numeric, 2) AS load_s,
       round(((metrics->>'rows_read')::float8 / (metrics->>'load_seconds')::float8 / 1e6)::numeric, 2) AS million_rows_per_s,
       round((metrics->>'seconds_per_epoch')::numeric, 3) AS s_per_epoch,
       round((metrics->>'save_seconds')::numeric, 2) AS save_s, round(train_seconds::numeric, 2) AS total_s
FROM pgrec.train('synth20m_plain', 'synth20m',
  params => '{"factors": 64, "threads": 2, "epochs": 5, "implicit": false, "implicit_items": false}');
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024 AS peak_mb,
       :baseline_peak_mb AS baseline_mb,
       round((20000000 * 12 * 2 + (138493 + 26744) * 64 * 4) / 1048576.0) AS target_mb_2x_triples_plus_factors \gset
SELECT :peak_mb - :baseline_mb AS training_peak_mb, :target_mb_2x_triples_plus_factors AS target_mb;
\c
SET client_min_messages = warning;
SELECT pg_backend_pid() AS pid \gset
SELECT round((metrics->>'seconds_per_epoch')::numeric, 3) AS default_params_s_per_epoch, round(train_seconds::numeric, 2) AS total_s
FROM pgrec.train('synth20m_default', 'synth20m', params => '{"factors": 64, "threads": 2, "epochs": 5}');
SELECT (regexp_match(pg_read_file('/proc/' || :pid || '/status'), 'VmHWM:\s+(\d+)'))[1]::bigint / 1024 AS default_params_peak_mb;
SELECT pgrec.drop_model('synth20m_plain'), pgrec.drop_model('synth20m_default');
DROP TABLE synth20m;
