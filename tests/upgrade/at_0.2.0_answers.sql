-- Every answer of tests/upgrade/at_0.2.0.sql's model through the serving functions' 0.2.0
-- symbols (src/symbols_0_2.rs), as one digest.
SET client_min_messages = warning;
SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (
  SELECT 'rec ' || u || ' ' || r.item_id || ' ' || r.score AS x
  FROM generate_series(1, 40) u, pgrec.recommend('up_mf', u::bigint, 5, true, ARRAY[1, 2, 3, 5, 8, 13, 21]::bigint[]) r
  UNION ALL SELECT 'rect ' || u || ' ' || r.item_id || ' ' || r.score
  FROM generate_series(1, 40) u, pgrec.recommend('up_mf', u::text, 5) r
  UNION ALL SELECT 'sim ' || i || ' ' || s.item_id || ' ' || s.similarity
  FROM generate_series(1, 25) i, pgrec.similar_items('up_mf', i::bigint, 5) s
  UNION ALL SELECT 'simt ' || s.item_id || ' ' || s.similarity FROM pgrec.similar_items('up_mf', '4', 5, 'cooccurrence') s
  UNION ALL SELECT 'batch ' || b::text FROM pgrec.recommend_batch('up_mf', ARRAY[1, 2, 3]::bigint[], 4) b
  UNION ALL SELECT 'batcht ' || b::text FROM pgrec.recommend_batch('up_mf', ARRAY['1', '7'], 4) b
  UNION ALL SELECT 'basket ' || b::text FROM pgrec.recommend_for_items('up_mf', ARRAY[2, 4, 8]::bigint[], 4) b
  UNION ALL SELECT 'baskett ' || b::text FROM pgrec.recommend_for_items('up_mf', ARRAY['2', '4'], 4) b) t;
