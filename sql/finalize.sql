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
COMMENT ON FUNCTION pgrec.recommend(text, bigint, int, boolean) IS
'The k best items for a user with an integer key, best first; items are returned as bigint (the model must have integer item keys). exclude_seen skips items the user rated in training.';
COMMENT ON FUNCTION pgrec.recommend(text, text, int, boolean) IS
'The k best items for a user (any key kind, spelled as text), best first; item keys are returned as text.';
COMMENT ON FUNCTION pgrec.similar_items(text, bigint, int) IS
'The k items whose embeddings have the highest cosine similarity with the given item (integer keys), the item itself excluded.';
COMMENT ON FUNCTION pgrec.similar_items(text, text, int) IS
'The k items whose embeddings have the highest cosine similarity with the given item (any key kind, spelled as text), the item itself excluded.';
COMMENT ON FUNCTION pgrec.user_embeddings(text, int) IS
'Bias and embedding of every user of the active (or given) version. user_id is set for integer keys, user_key for text keys.';
COMMENT ON FUNCTION pgrec.item_embeddings(text, int) IS
'Bias and embedding of every item of the active (or given) version. item_id is set for integer keys, item_key for text keys.';
COMMENT ON FUNCTION pgrec.evaluate(text, text, int, real) IS
'Accuracy of a model on held-out rows: rmse and mae for explicit ratings, and precision, recall, ndcg and hit rate at k (relevant: rating >= relevance_threshold).';
COMMENT ON FUNCTION pgrec.drop_model(text) IS
'Drops every version of a model with its factors and history.';
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

COMMENT ON FUNCTION pgrec.recommend_for_items(text, bigint[], int) IS
'Top-k items for an anonymous basket of item ids (integer item keys): the basket is folded in as one user against the active version (mf, als, ials, bpr) and its items are excluded. Nothing is stored.';
COMMENT ON FUNCTION pgrec.recommend_for_items(text, text[], int) IS
'Top-k items for an anonymous basket of item keys given as text: the basket is folded in as one user against the active version (mf, als, ials, bpr) and its items are excluded. Nothing is stored.';
COMMENT ON FUNCTION pgrec.fold_in(text, text, text, text, text) IS
'Embeds the users of a source from their full histories against the active version''s item factors and adds them to that version (or replaces them); they are servable at once. Owner only; returns the number of users folded in.';
