-- pgvector interop: pgrec's embeddings are real[] and cast to pgvector's vector, so they can be
-- indexed and searched with pgvector (the README recipe). The exact pgvector search must give
-- pgrec's own plain-cosine neighbours, and an HNSW index over them most of them.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS vector;
SELECT version FROM pgrec.train('vec_ials', 'SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test',
                                'ials', params => '{"positive_threshold": 4}');
-- the recipe: a table of the active version's item vectors, and an HNSW index on cosine distance
CREATE TABLE item_vectors AS
SELECT item_id, embedding::vector(64) AS embedding FROM pgrec.item_embeddings('vec_ials');
CREATE INDEX ON item_vectors USING hnsw (embedding vector_cosine_ops);
ANALYZE item_vectors;
SET client_min_messages = notice;
SELECT count(*) AS vectors, min(vector_dims(embedding)) AS dims FROM item_vectors;

-- 50 query items: pgrec.similar_items with shrinkage 0 (the plain cosine) against pgvector's
-- exact scan (index off) and its HNSW index, 10 neighbours each.
CREATE TEMP TABLE queries AS SELECT item_id FROM item_vectors ORDER BY item_id LIMIT 50;
CREATE TEMP TABLE pgrec_nn AS
SELECT q.item_id AS query, s.item_id AS neighbour, s.similarity
FROM queries q, LATERAL pgrec.similar_items('vec_ials', q.item_id, 10, shrinkage => 0) s;
SET enable_indexscan = off;
CREATE TEMP TABLE exact_nn AS
SELECT q.item_id AS query, n.item_id AS neighbour, n.similarity
FROM queries q, LATERAL (
  SELECT v.item_id, 1 - (v.embedding <=> qv.embedding) AS similarity
  FROM item_vectors v, item_vectors qv
  WHERE qv.item_id = q.item_id AND v.item_id <> q.item_id
  ORDER BY v.embedding <=> qv.embedding LIMIT 10) n;
RESET enable_indexscan;
-- (1,650 rows: the planner would rather scan them all, so the index is forced)
SET enable_seqscan = off;
SET hnsw.ef_search = 100;
CREATE TEMP TABLE hnsw_nn AS
SELECT q.item_id AS query, n.item_id AS neighbour
FROM queries q, LATERAL (
  SELECT v.item_id FROM item_vectors v
  WHERE v.item_id <> q.item_id
  ORDER BY v.embedding <=> (SELECT embedding FROM item_vectors WHERE item_id = q.item_id) LIMIT 10) n;
RESET hnsw.ef_search;
-- the nearest-neighbour query of the recipe used the index (the plan's wording differs between
-- PostgreSQL majors, so only that line is checked)
CREATE FUNCTION pg_temp.plan_uses(query text, index_name text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
    IF line ~ ('Index Scan using ' || index_name || ' ') THEN RETURN true; END IF;
  END LOOP;
  RETURN false;
END $$;
SELECT pg_temp.plan_uses('SELECT item_id FROM item_vectors ORDER BY embedding <=> (SELECT embedding FROM item_vectors WHERE item_id = 50) LIMIT 10',
                         'item_vectors_embedding_idx') AS recipe_uses_the_index;
RESET enable_seqscan;
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE e.neighbour IS NOT NULL) AS found_by_exact_pgvector,
       max(abs(p.similarity - e.similarity)) < 1e-5 AS same_cosine
FROM pgrec_nn p LEFT JOIN exact_nn e USING (query, neighbour);
SELECT round(count(h.neighbour)::numeric / count(*), 1) >= 0.9 AS hnsw_recall_at_least_090
FROM pgrec_nn p LEFT JOIN hnsw_nn h USING (query, neighbour);

SET client_min_messages = warning;
DROP TABLE item_vectors;
SELECT pgrec.drop_model('vec_ials');
