-- Loads MovieLens-100K (from data/ml-100k, see scripts/fetch_movielens.sh) into schema ml100k:
--   ml100k.ratings (user_id, item_id, rating, ts, row_no)  row_no keeps u.data's order
--   ml100k.movies  (movie_id, title, release_year, genres text[])
--   ml100k.users   (user_id, age, gender, occupation, zip_code)
--   ml100k.u1_base / ml100k.u1_test: the canonical first fold (test = rows 1-20,000)
-- Run with psql -v datadir=/abs/path/to/data/ml-100k -f scripts/load_movielens.sql
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS ml100k CASCADE;
CREATE SCHEMA ml100k;
CREATE TABLE ml100k.ratings_raw (row_no serial, user_id int, item_id int, rating real, ts bigint);
CREATE TABLE ml100k.movies_raw (movie_id int, title text, release_year text, genres text);
CREATE TABLE ml100k.users_raw (user_id int, age int, gender text, occupation text, zip_code text);
\set inter :datadir '/ml-100k.inter'
\set item :datadir '/ml-100k.item'
\set user :datadir '/ml-100k.user'
COPY ml100k.ratings_raw (user_id, item_id, rating, ts) FROM :'inter' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01');
COPY ml100k.movies_raw FROM :'item' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01');
COPY ml100k.users_raw FROM :'user' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01');

CREATE TABLE ml100k.ratings AS
  SELECT user_id, item_id, rating, ts, row_no FROM ml100k.ratings_raw ORDER BY row_no;
ALTER TABLE ml100k.ratings ADD PRIMARY KEY (user_id, item_id);
CREATE TABLE ml100k.movies AS
  SELECT movie_id, title, CASE WHEN release_year ~ '^[0-9]+$' THEN release_year::int END AS release_year,
         coalesce(string_to_array(nullif(genres, ''), ' '), '{}') AS genres
  FROM ml100k.movies_raw;
ALTER TABLE ml100k.movies ADD PRIMARY KEY (movie_id);
CREATE TABLE ml100k.users AS SELECT * FROM ml100k.users_raw;
ALTER TABLE ml100k.users ADD PRIMARY KEY (user_id);
DROP TABLE ml100k.ratings_raw, ml100k.movies_raw, ml100k.users_raw;
CREATE VIEW ml100k.u1_base AS SELECT user_id, item_id, rating FROM ml100k.ratings WHERE row_no > 20000;
CREATE VIEW ml100k.u1_test AS SELECT user_id, item_id, rating FROM ml100k.ratings WHERE row_no <= 20000;
-- Seeded random 80/20 splits: the 20,000 rows with the smallest hash of (row, seed) are the
-- test set. ml100k.split_base(seed) / ml100k.split_test(seed) return (user_id, item_id, rating).
CREATE TABLE ml100k.random_split AS
  SELECT s.seed, r.row_no,
         row_number() OVER (PARTITION BY s.seed ORDER BY hashint4extended(r.row_no, s.seed), r.row_no) <= 20000 AS is_test
  FROM ml100k.ratings r CROSS JOIN generate_series(1, 3) AS s(seed);
CREATE INDEX ON ml100k.random_split (seed, is_test);
CREATE VIEW ml100k.split AS
  SELECT s.seed, s.is_test, r.user_id, r.item_id, r.rating
  FROM ml100k.random_split s JOIN ml100k.ratings r USING (row_no);
CREATE VIEW ml100k.title AS
  SELECT movie_id, title || coalesce(' (' || release_year || ')', '') AS title FROM ml100k.movies;
ANALYZE ml100k.ratings;
SELECT count(*) AS ratings FROM ml100k.ratings;
