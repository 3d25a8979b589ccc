-- Embedding accessors: plain SQL over the factor tables, so they stream and can be joined.

CREATE FUNCTION pgrec.user_embeddings(model text, version int DEFAULT NULL)
RETURNS TABLE (user_id bigint, bias real, embedding real[], user_key text)
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT f.user_id, f.bias, f.embedding, f.user_key
   FROM pgrec.user_factors f
   WHERE f.version_id = pgrec._version_id(model, version)
   ORDER BY f.idx $$;

CREATE FUNCTION pgrec.item_embeddings(model text, version int DEFAULT NULL)
RETURNS TABLE (item_id bigint, bias real, embedding real[], item_key text)
LANGUAGE sql STABLE PARALLEL SAFE AS
$$ SELECT f.item_id, f.bias, f.embedding, f.item_key
   FROM pgrec.item_factors f
   WHERE f.version_id = pgrec._version_id(model, version)
   ORDER BY f.idx $$;

COMMENT ON FUNCTION pgrec.train(text, text, text, text, text, text, jsonb, text, text) IS
'Trains a model on a ratings table, view or SELECT and stores it as a new version of model, active once the transaction commits. Returns counts, wall time and metrics.';
COMMENT ON FUNCTION pgrec.predict(text, bigint, bigint) IS
'Predicted rating of an item by a user (integer keys); NULL when the user or the item is not in the model.';
COMMENT ON FUNCTION pgrec.predict(text, text, text) IS
'Predicted rating of an item by a user (text keys, or integer keys spelled as text); NULL when unknown.';
COMMENT ON FUNCTION pgrec.predict(text, bigint, text) IS
'Predicted rating for an integer user key and a text item key; NULL when unknown.';
COMMENT ON FUNCTION pgrec.predict(text, text, bigint) IS
'Predicted rating for a text user key and an integer item key; NULL when unknown.';
COMMENT ON FUNCTION pgrec.recommend(text, bigint, int, boolean, bigint[], bigint[], text, real) IS
'The k best items for a user with an integer key, best first; items are returned as bigint (the model must have integer item keys). exclude_seen skips items the user rated in training; candidates, when given, restricts the ranking to those items; exclude lists items never to return; fallback => ''popular'' gives unknown users pgrec.popular''s items; diversity (0..1) trades relevance for variety (maximal marginal relevance on the item vectors). Hidden items (pgrec.hide_items) are never returned, and k rows come back while k visible items exist.';
COMMENT ON FUNCTION pgrec.recommend(text, text, int, boolean, text[], text[], text, real) IS
'The k best items for a user (any key kind, spelled as text), best first; item keys are returned as text. candidates, exclude, fallback and diversity as for the bigint version; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.recommend(text, uuid, int, boolean, uuid[], uuid[], text, real) IS
'The k best items for a user of a model with uuid keys, best first; items are returned as uuid. candidates, exclude, fallback and diversity as for the bigint version; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.predict(text, uuid, uuid) IS
'Predicted rating (or score) of an item by a user, for models with uuid keys; NULL when unknown.';
COMMENT ON FUNCTION pgrec.similar_items(text, uuid, int, text, real, uuid[], real) IS
'The k items most similar to the given item, for models with uuid item keys (returned as uuid); method, shrinkage, exclude and diversity as for the bigint version; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.recommend_for_items(text, uuid[], int, uuid[], real) IS
'Recommendations for an anonymous basket of uuid items, returned as uuid; exclude and diversity as for the bigint version; hidden items are never returned. Nothing is stored.';
COMMENT ON FUNCTION pgrec.score(text, bigint, bigint[]) IS
'Scores of the given items for a user (integer keys), best first, each item once, with the score recommend ranks by; unknown items are skipped with a NOTICE. For re-ranking a candidate list.';
COMMENT ON FUNCTION pgrec.score(text, text, text[]) IS
'Scores of the given items for a user (any key kind, spelled as text), best first, each item once; unknown items are skipped with a NOTICE.';
COMMENT ON FUNCTION pgrec.score(text, uuid, uuid[]) IS
'Scores of the given items for a user of a model with uuid keys, best first, returned as uuid.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, bigint[], int, boolean, bigint[], text, real) IS
'The k best items for each of many users (integer keys) in one call: one row per (user, rank), ranks from 1. Computed as matrix products over chunks of users on the pgrec.threads pool; the same items as one recommend call per user. exclude (one list for every user), fallback and diversity as for recommend; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, text[], int, boolean, text[], text, real) IS
'The k best items for each of many users (any key kind, spelled as text) in one call: one row per (user, rank), keys as text.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, uuid[], int, boolean, uuid[], text, real) IS
'The k best items for each of many users of a model with uuid keys in one call: one row per (user, rank), keys as uuid.';
COMMENT ON FUNCTION pgrec.similar_users(text, bigint, int) IS
'The k users most similar to the given user (integer keys) by cosine of their vectors, the user excluded.';
COMMENT ON FUNCTION pgrec.similar_users(text, text, int) IS
'The k users most similar to the given user (any key kind, spelled as text) by cosine of their vectors, the user excluded.';
COMMENT ON FUNCTION pgrec.similar_users(text, uuid, int) IS
'The k users most similar to the given user of a model with uuid keys, returned as uuid.';
COMMENT ON FUNCTION pgrec.pca(text, text, int) IS
'Coordinates of every item (side => ''item'') or user (''user'') of the active version on the top principal components of its vectors (centred covariance, largest variance first, signs fixed). id is set for integer keys, key for text keys.';
COMMENT ON FUNCTION pgrec.embedding_stats(text) IS
'Per side (users, items) of the active version: vector norms, zero vectors, mean pairwise cosine (up to 2,000 sampled rows), the share of the squared norm along the first direction, explained variance of the top 5 principal components, and whether the embeddings look collapsed (mean cosine above 0.9).';
COMMENT ON FUNCTION pgrec.similar_items(text, bigint, int, text, real, bigint[], real) IS
'The k items most similar to the given item (integer keys), the item itself excluded. method ''embedding'' (default): cosine of the item vectors times n / (n + shrinkage), n being the neighbour''s training interactions (shrinkage defaults to 25); ''cooccurrence'': cosine of who interacted with what (shrinkage defaults to 0). exclude lists items never to return; diversity (0..1) trades similarity for variety; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.similar_items(text, text, int, text, real, text[], real) IS
'The k items most similar to the given item (any key kind, spelled as text), the item itself excluded. method ''embedding'' (default): cosine of the item vectors times n / (n + shrinkage), n being the neighbour''s training interactions (shrinkage defaults to 25); ''cooccurrence'': cosine of who interacted with what (shrinkage defaults to 0).';
COMMENT ON FUNCTION pgrec.user_embeddings(text, int) IS
'Bias and embedding of every user of the active (or given) version. user_id is set for integer keys, user_key for text keys.';
COMMENT ON FUNCTION pgrec.item_embeddings(text, int) IS
'Bias and embedding of every item of the active (or given) version. item_id is set for integer keys, item_key for text keys.';
COMMENT ON FUNCTION pgrec.evaluate(text, text, int, real) IS
'Accuracy of a model on held-out rows: rmse and mae for explicit ratings, and precision, recall, ndcg and hit rate at k (relevant: rating >= relevance_threshold).';
COMMENT ON FUNCTION pgrec.drop_model(text) IS
'Drops every version of a model with its factors and history.';
COMMENT ON FUNCTION pgrec.retrain(text) IS
'Replays the training recorded with the active version (source, algorithm, columns, params, feature sources) as a new version, active once the transaction commits; for pg_cron. Owner only.';
COMMENT ON FUNCTION pgrec.activate(text, int) IS
'Makes a kept version the one serving reads (rollback or forward), from the commit on. Owner only.';
COMMENT ON FUNCTION pgrec.synthetic_ratings(int, int, bigint, int, real, bigint) IS
'Seeded synthetic ratings (power-law activity and popularity, known rank-k structure plus Gaussian noise) for tests and benchmarks.';
COMMENT ON FUNCTION pgrec._version_id(text, int) IS
'Internal: id of the active (or given) version of a model; raises an error for an unknown model.';

-- Access to models. The contract's signature takes the role as `name`; the work (ownership
-- check, grant list update, errors) is done by the internal functions.
CREATE FUNCTION pgrec.grant_model(model text, role name) RETURNS void
LANGUAGE sql VOLATILE AS
$$ SELECT pgrec._grant_model(model, role::text) $$;

CREATE FUNCTION pgrec.revoke_model(model text, role name) RETURNS void
LANGUAGE sql VOLATILE AS
$$ SELECT pgrec._revoke_model(model, role::text) $$;

COMMENT ON FUNCTION pgrec.grant_model(text, name) IS
'Lets a role (or PUBLIC) serve a model, read its embeddings and catalog rows, and evaluate it. Only the model''s owner role (or a member) may grant; training, dropping and granting stay with the owner.';
COMMENT ON FUNCTION pgrec.revoke_model(text, name) IS
'Takes back a grant made with pgrec.grant_model; effective at once, also in sessions that have the model cached. Owner only.';
COMMENT ON FUNCTION pgrec._grant_model(text, text) IS 'Internal: the body of pgrec.grant_model.';
COMMENT ON FUNCTION pgrec._revoke_model(text, text) IS 'Internal: the body of pgrec.revoke_model.';

COMMENT ON FUNCTION pgrec.algorithms() IS
'Every algorithm name pgrec.train accepts, whether this version can train it, and whether it needs a rating column and reads feature sources (with default params).';

COMMENT ON FUNCTION pgrec.recommend_for_items(text, bigint[], int, bigint[], real) IS
'Top-k items for an anonymous basket of item ids (integer item keys): the basket is folded in as one user against the active version (mf, als, ials, bpr, vbmf) and its items are excluded, with the hidden items and exclude; diversity (0..1) trades relevance for variety. Nothing is stored.';
COMMENT ON FUNCTION pgrec.recommend_for_items(text, text[], int, text[], real) IS
'Top-k items for an anonymous basket of item keys given as text: the basket is folded in as one user against the active version (mf, als, ials, bpr, vbmf) and its items are excluded. Nothing is stored.';
COMMENT ON FUNCTION pgrec.popular(text, int, text, text[]) IS
'The k items with the most training interactions of the active version (weighted as trained), best first, the count as score; hidden and excluded items left out, and with user_id that user''s training items. Keys as text; for bigint or uuid keys pass user_id typed (NULL::bigint, NULL::uuid).';
COMMENT ON FUNCTION pgrec.popular(text, int, bigint, bigint[]) IS
'pgrec.popular for integer item keys (user_id may be NULL::bigint).';
COMMENT ON FUNCTION pgrec.popular(text, int, uuid, uuid[]) IS
'pgrec.popular for uuid item keys (user_id may be NULL::uuid).';
COMMENT ON FUNCTION pgrec.hide_items(text, bigint[]) IS
'Hides items from every serving function of a model (recommend, recommend_batch, recommend_for_items, similar_items, popular, score), in every version and retrain until pgrec.unhide_items; transactional. Owner only; returns how many were not hidden before.';
COMMENT ON FUNCTION pgrec.hide_items(text, text[]) IS
'pgrec.hide_items with keys as text.';
COMMENT ON FUNCTION pgrec.hide_items(text, uuid[]) IS
'pgrec.hide_items with uuid keys.';
COMMENT ON FUNCTION pgrec.unhide_items(text, bigint[]) IS
'Serves hidden items again; owner only; returns how many of them were hidden.';
COMMENT ON FUNCTION pgrec.unhide_items(text, text[]) IS
'pgrec.unhide_items with keys as text.';
COMMENT ON FUNCTION pgrec.unhide_items(text, uuid[]) IS
'pgrec.unhide_items with uuid keys.';
COMMENT ON FUNCTION pgrec.explain(text, bigint, bigint, int) IS
'Which of the user''s own items make the item''s score: the user''s training rows are read again from the version''s source (with your privileges, weighed as trained), the user''s vector is solved from them in the algorithm''s closed form (exact for ials, als, ease, vbmf and mf''s fold-in; a stand-in ridge regression for bpr and two_tower, exact = false), and the k largest shares come back largest first, then a row with item_id NULL holding the rest (biases and the items not shown), so the rows add up to score; served_score is the score recommend serves.';
COMMENT ON FUNCTION pgrec.explain(text, text, text, int) IS
'pgrec.explain with keys as text.';
COMMENT ON FUNCTION pgrec.explain(text, uuid, uuid, int) IS
'pgrec.explain with uuid keys.';
COMMENT ON FUNCTION pgrec.fold_in_items(text, text, text, text, text) IS
'Embeds the items of a source from their interactions against the active version''s user factors (the fit that folds users in, sides swapped; mf, als, ials, bpr, vbmf), or for ncf and two_tower from the version''s recorded item_features through its item tower (the source''s items and every new item of the features), and adds them to that version (or replaces them); their users'' seen lists gain them; servable at once, IVF included. Owner only; returns the number of items folded in.';
COMMENT ON FUNCTION pgrec.fold_in(text, text, text, text, text) IS
'Embeds the users of a source from their full histories against the active version''s item factors and adds them to that version (or replaces them); they are servable at once. Owner only; returns the number of users folded in.';

-- Train/test splits of a source, for ranking evaluation. One query text for every method; the
-- key type is the caller's choice of function (split: bigint keys, split_text: text keys).
CREATE FUNCTION pgrec._split_query(source text, method text, test_fraction real, seed bigint,
    user_col text, time_col text, item_col text, rating_col text, key_type text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
  src text := pgrec._source_from(source);
  u text := format('%I', user_col);
  i text := format('%I', item_col);
  r text := CASE WHEN rating_col IS NULL THEN '1' ELSE format('%I', rating_col) END;
  -- a pair's draw depends on (seed, user, item) only, never on row order
  h text := format('hashtextextended(%s::text || %L || %s::text, %s)', u, '|', i, seed);
  ord text;
BEGIN
  IF method IS NULL OR method NOT IN ('random', 'temporal', 'leave_one_out') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('unknown split method %L', method),
      HINT = 'Use ''random'', ''temporal'' (by time_col, per user) or ''leave_one_out'' (latest per user).';
  END IF;
  IF method <> 'leave_one_out' AND (test_fraction IS NULL OR NOT (test_fraction > 0 AND test_fraction < 1)) THEN
    RAISE EXCEPTION USING ERRCODE = '22023',
      MESSAGE = format('test_fraction must be greater than 0 and less than 1, got %s', test_fraction);
  END IF;
  IF method = 'temporal' AND time_col IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'split method ''temporal'' needs time_col',
      HINT = 'Name the timestamp (or any ordered) column with time_col.';
  END IF;
  IF seed IS NULL OR user_col IS NULL OR item_col IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'seed, user_col and item_col must not be NULL';
  END IF;
  IF method = 'random' THEN
    RETURN format('SELECT %s::%s, %s::%s, %s::real, abs(%s %% 1000000) < %s * 1000000 FROM %s '
                  'WHERE %s IS NOT NULL AND %s IS NOT NULL',
                  u, key_type, i, key_type, r, h, test_fraction, src, u, i);
  END IF;
  -- per user, latest first (ties and a missing time_col broken by the seeded draw)
  ord := CASE WHEN time_col IS NULL THEN h ELSE format('%I DESC, %s', time_col, h) END;
  RETURN format('SELECT u, i, r, CASE WHEN %L THEN rn = 1 AND n > 1 ELSE rn <= round(n * %s) END '
                'FROM (SELECT %s::%s AS u, %s::%s AS i, %s::real AS r, '
                'row_number() OVER (PARTITION BY %s ORDER BY %s) AS rn, '
                'count(*) OVER (PARTITION BY %s) AS n FROM %s '
                'WHERE %s IS NOT NULL AND %s IS NOT NULL) s',
                method = 'leave_one_out', coalesce(test_fraction, 0), u, key_type, i, key_type, r,
                u, ord, u, src, u, i);
END $$;

CREATE FUNCTION pgrec.split(source text, method text DEFAULT 'random', test_fraction real DEFAULT 0.2,
    seed bigint DEFAULT 42, user_col text DEFAULT 'user_id', time_col text DEFAULT NULL,
    item_col text DEFAULT 'item_id', rating_col text DEFAULT 'rating')
RETURNS TABLE (user_id bigint, item_id bigint, rating real, is_test boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  kinds text[];
BEGIN
  EXECUTE format('SELECT ARRAY[pg_typeof(%I)::text, pg_typeof(%I)::text] FROM (SELECT * FROM %s LIMIT 1) s',
                 user_col, item_col, pgrec._source_from(source)) INTO kinds;
  IF kinds IS NOT NULL AND NOT kinds <@ ARRAY['smallint', 'integer', 'bigint'] THEN
    RAISE EXCEPTION USING ERRCODE = '42804',
      MESSAGE = format('pgrec.split returns bigint keys, but the source''s keys are %s and %s', kinds[1], kinds[2]),
      HINT = 'Use pgrec.split_text(...), which returns the keys as text.';
  END IF;
  RETURN QUERY EXECUTE pgrec._split_query(source, method, test_fraction, seed, user_col, time_col,
                                          item_col, rating_col, 'bigint');
END $$;

CREATE FUNCTION pgrec.split_text(source text, method text DEFAULT 'random', test_fraction real DEFAULT 0.2,
    seed bigint DEFAULT 42, user_col text DEFAULT 'user_id', time_col text DEFAULT NULL,
    item_col text DEFAULT 'item_id', rating_col text DEFAULT 'rating')
RETURNS TABLE (user_id text, item_id text, rating real, is_test boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY EXECUTE pgrec._split_query(source, method, test_fraction, seed, user_col, time_col,
                                          item_col, rating_col, 'text');
END $$;

COMMENT ON FUNCTION pgrec.split(text, text, real, bigint, text, text, text, text) IS
'Train/test split of a source with integer keys: ''random'' (by a seeded hash of the pair), ''temporal'' (each user''s latest test_fraction of rows by time_col) or ''leave_one_out'' (each user''s latest row; users with one row stay in training).';
COMMENT ON FUNCTION pgrec.split_text(text, text, real, bigint, text, text, text, text) IS
'pgrec.split for sources with text, uuid or mixed keys: the same split, keys returned as text.';
COMMENT ON FUNCTION pgrec._split_query(text, text, real, bigint, text, text, text, text, text) IS
'Internal: the query behind pgrec.split and pgrec.split_text.';
COMMENT ON FUNCTION pgrec._source_from(text) IS
'Internal: the checked FROM item of a source (a table, view or single read-only SELECT).';
COMMENT ON FUNCTION pgrec.distribute_model(text) IS
'Citus: makes the active version of the model servable on every node (its serving data in the reference table pgrec.distributed_models), and keeps it current: later trainings, activate, grants and fold-in update every node in the same transaction. Owner only.';

-- Serving files (see src/store_file.rs): one row per file of this database on this node. A file
-- is in use when a version row refers to it (the version's id and the stamp of its row); the
-- rest is what pgrec.remove_unused_files() removes. Like pgrec.models, a role sees the files of
-- the versions it may read; superusers see every file, unused ones too.
CREATE VIEW pgrec.serving_files WITH (security_invoker = true) AS
SELECT v.model, v.version, f.path, f.bytes,
       coalesce(f.stamp OPERATOR(pg_catalog.=) v.xmin::text::int8, false) AS in_use
FROM pgrec._serving_files() f
LEFT JOIN pgrec.model_versions v ON v.id OPERATOR(pg_catalog.=) f.version_id
WHERE v.id IS NOT NULL
   OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
              WHERE r.rolname OPERATOR(pg_catalog.=) current_user AND r.rolsuper);
GRANT SELECT ON pgrec.serving_files TO PUBLIC;
COMMENT ON VIEW pgrec.serving_files IS
'The serving files of this database on this node (under $PGDATA/pgrec_serving): the model and version each was built for, its bytes, and whether a version refers to it (in_use). Files of versions you may not read are not shown; superusers see every file.';
COMMENT ON FUNCTION pgrec._serving_files() IS 'Internal: the files of this database''s serving directory.';
-- Removing a file another role still serves costs that role a rebuild: superusers only, unless
-- granted (e.g. to the role a pg_cron job runs as).
REVOKE EXECUTE ON FUNCTION pgrec.remove_unused_files() FROM PUBLIC;
COMMENT ON FUNCTION pgrec.remove_unused_files() IS
'Removes the serving files of this database on this node that no version refers to (rolled-back or crashed trainings and fold-ins, versions dropped while a standby served them) and left-over temporary files; returns the bytes freed. Superusers, or roles granted EXECUTE; schedule it with pg_cron.';

-- DROP EXTENSION pgrec removes this database's serving files: the library's object-access hook
-- sees the drop, and this trigger loads the library first in whichever backend runs it.
CREATE FUNCTION pgrec._before_drop_extension() RETURNS event_trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$ BEGIN PERFORM pgrec._load(); END $$;
CREATE EVENT TRIGGER pgrec_drop_extension ON ddl_command_start WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION pgrec._before_drop_extension();
COMMENT ON FUNCTION pgrec._load() IS 'Internal: loads the pgrec library (before DROP EXTENSION, see pgrec._before_drop_extension).';
COMMENT ON FUNCTION pgrec._before_drop_extension() IS 'Internal: the event trigger that lets DROP EXTENSION pgrec remove the database''s serving files.';
-- Files a dropped earlier installation of pgrec left in this database's directory.
SELECT pgrec.remove_unused_files();
