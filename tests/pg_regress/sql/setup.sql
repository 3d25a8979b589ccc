-- The database already has pgrec and MovieLens-100K (schema ml100k), see scripts/create_db.sh.
SELECT extname, extversion IS NOT NULL AS has_version, extrelocatable
FROM pg_extension WHERE extname = 'pgrec';
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pgrec';
-- Every public function has a comment.
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'pgrec' AND obj_description(p.oid, 'pg_proc') IS NULL
  AND p.proname NOT LIKE '\_%'
ORDER BY 1, 2;
-- Serving functions read the catalog: STABLE, never IMMUTABLE.
SELECT p.proname, p.provolatile, count(*)
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'pgrec' AND p.proname IN ('predict', 'recommend', 'similar_items', 'user_embeddings', 'item_embeddings', 'evaluate', 'train', 'drop_model')
GROUP BY 1, 2 ORDER BY 1;
-- Small fixtures shared by the following tests.
CREATE TABLE tiny (user_id int, item_id int, rating real);
INSERT INTO tiny
SELECT u, i, 1 + ((u * 7 + i * 3) % 5)
FROM generate_series(1, 30) u, generate_series(1, 20) i
WHERE (u + i) % 3 <> 0;
SELECT count(*) FROM tiny;
