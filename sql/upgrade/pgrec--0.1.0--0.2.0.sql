-- pgrec 0.1.0 -> 0.2.0: models become private to their owner role (pgrec.grant_model /
-- revoke_model), versions record their feature sources. Existing models keep their versions and
-- factors; each becomes private to the role that owns it (superusers still see everything), so
-- grant the models your applications serve, e.g. SELECT pgrec.grant_model('m', 'app_role').
\echo Use "ALTER EXTENSION pgrec UPDATE TO '0.2.0'" to load this file. \quit

-- The 0.1.0 read-everything policies, views and helper that depend on the old owner columns.
DROP POLICY read_all ON pgrec.model_owners;
DROP POLICY register ON pgrec.model_owners;
DROP POLICY owner_delete ON pgrec.model_owners;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['model_versions', 'user_factors', 'item_factors', 'training_history', 'model_tensors'] LOOP
        EXECUTE format('DROP POLICY read_all ON pgrec.%I', t);
        EXECUTE format('DROP POLICY owner_write ON pgrec.%I', t);
    END LOOP;
END $$;
DROP VIEW pgrec.models;
DROP VIEW pgrec._writable_versions;
DROP FUNCTION pgrec._is_member(name);
REVOKE ALL ON pgrec.model_owners, pgrec.model_versions, pgrec.user_factors, pgrec.item_factors,
    pgrec.training_history, pgrec.model_tensors FROM PUBLIC;

-- Owners by OID; an owner role that no longer exists becomes OID 0 (nobody: superusers only).
ALTER TABLE pgrec.model_owners
    ALTER COLUMN owner DROP DEFAULT,
    ALTER COLUMN owner TYPE regrole
        USING coalesce(pg_catalog.to_regrole(pg_catalog.quote_ident(owner)), 0::oid::regrole),
    ADD COLUMN readers oid[] NOT NULL DEFAULT '{}';
ALTER TABLE pgrec.model_versions
    ALTER COLUMN owner DROP DEFAULT,
    ALTER COLUMN owner TYPE regrole
        USING coalesce(pg_catalog.to_regrole(pg_catalog.quote_ident(owner)), 0::oid::regrole),
    ADD COLUMN readers oid[] NOT NULL DEFAULT '{}',
    ADD COLUMN user_features text,
    ADD COLUMN item_features text,
    ADD COLUMN scorer text NOT NULL DEFAULT 'dot' CHECK (scorer IN ('dot', 'network')),
    ADD COLUMN target text NOT NULL DEFAULT 'rating' CHECK (target IN ('rating', 'relevance'));
-- 0.1.0 told them apart by name: ncf runs its network, bce and softmax models rank.
UPDATE pgrec.model_versions SET scorer = 'network' WHERE algorithm = 'ncf';
UPDATE pgrec.model_versions SET target = 'relevance' WHERE params->>'loss' IN ('bce', 'softmax');
ALTER TABLE pgrec.training_history ADD COLUMN metrics jsonb NOT NULL DEFAULT '{}';
UPDATE pgrec.training_history SET metrics = jsonb_strip_nulls(jsonb_build_object(
    'train_rmse', train_rmse, 'train_loss', train_loss, 'validation_rmse', validation_rmse));
COMMENT ON TABLE pgrec.training_history IS 'pgrec: per-epoch training loss (and RMSE for explicit ratings) and validation RMSE of each model version; metrics holds every measurement by name.';
-- A version's owner is its model's (0.1.0 copied it at insert; make sure).
UPDATE pgrec.model_versions v SET owner = o.owner FROM pgrec.model_owners o
WHERE o.model = v.model AND v.owner IS DISTINCT FROM o.owner;

-- Views run with the caller's privileges (security_invoker), so the row-level security below
-- filters them exactly as it filters the tables.
CREATE VIEW pgrec.models WITH (security_invoker = true) AS
SELECT v.model, v.version, v.algorithm, v.params, v.metrics, v.n_users, v.n_items, v.n_interactions,
       v.train_seconds, v.created_at, pg_catalog.pg_get_userbyid(v.owner) AS owner, v.active
FROM pgrec.model_versions v;

CREATE VIEW pgrec.model_grants WITH (security_invoker = true) AS
SELECT o.model, pg_catalog.pg_get_userbyid(o.owner) AS owner,
       CASE WHEN g.reader = 0 THEN 'PUBLIC'::name ELSE pg_catalog.pg_get_userbyid(g.reader) END AS grantee
FROM pgrec.model_owners o, LATERAL pg_catalog.unnest(o.readers) AS g(reader);

COMMENT ON VIEW pgrec.models IS 'Every model version you may read (yours, and those granted to you or to PUBLIC) with its parameters, metrics and owner; active marks the version that serving functions read.';
COMMENT ON VIEW pgrec.model_grants IS 'The roles granted read access (serve, embeddings, evaluate) to the models you may read, by pgrec.grant_model; PUBLIC means every role.';
COMMENT ON TABLE pgrec.model_owners IS 'pgrec catalog: the owner role of each model name and the roles granted read access (readers; 0 is PUBLIC).';
COMMENT ON TABLE pgrec.model_owners IS 'pgrec catalog: the owner role of each model name and the roles granted read access (readers; 0 is PUBLIC).';

-- Access control. A model is as private as its source: its catalog rows, factors, seen items,
-- history and tensors are readable only by members of its owner role, by the roles it was granted
-- to (pgrec.grant_model; members of those roles too), by everyone once granted to PUBLIC, and by
-- superusers. Only members of the owner role may write. The tables carry table-level privileges
-- for PUBLIC; row-level security decides which rows a role sees or changes.
GRANT USAGE ON SCHEMA pgrec TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgrec.user_factors, pgrec.item_factors,
    pgrec.training_history, pgrec.model_tensors TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON pgrec.model_versions, pgrec.model_owners TO PUBLIC;
-- Owners change who may read (the column readers) and nothing else of a name's registration;
-- a version's copies of owner and readers follow model_owners and are not writable at all.
GRANT UPDATE (readers) ON pgrec.model_owners TO PUBLIC;
GRANT UPDATE (version, algorithm, params, metrics, source, user_col, item_col, rating_col,
              user_key_type, item_key_type, n_users, n_items, n_interactions, factors,
              global_mean, rating_min, rating_max, train_seconds, created_at, active, features)
    ON pgrec.model_versions TO PUBLIC;
GRANT SELECT ON pgrec.models, pgrec.model_grants TO PUBLIC;
GRANT USAGE ON SEQUENCE pgrec.model_versions_id_seq TO PUBLIC;

-- Membership test that is safe to call anywhere: a fixed search_path (no shadowing of
-- pg_has_role by a caller's schema), and a dropped role means "not a member" instead of an
-- error. Superusers count as members of every role.
CREATE FUNCTION pgrec._is_member(role oid) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS
$$ SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.oid OPERATOR(pg_catalog.=) role
                    AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.rolname OPERATOR(pg_catalog.=) current_user AND r.rolsuper) $$;

-- The owner of a model name, whoever asks (NULL: no such model). Like pg_class, names and owners
-- are not secret; everything else about a model is. Serving uses it to tell "permission denied"
-- from "does not exist", training to refuse a name that belongs to another role.
CREATE FUNCTION pgrec._model_owner(model text) RETURNS regrole
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT o.owner FROM pgrec.model_owners o WHERE o.model OPERATOR(pg_catalog.=) $1 $$;

-- Who may read a row: PUBLIC is among its readers, or the current role is a member of its owner
-- or of one of its readers. The role list is an uncorrelated subquery (evaluated once per
-- statement, not once per row), and the rest looks only at the row's own columns, so checking a
-- row costs the same however many models and roles exist. Policy expressions are stored parsed,
-- with pg_has_role and the operators already resolved, so a caller's search_path cannot change
-- them; reading pg_roles first means a dropped role is simply "nobody".
ALTER TABLE pgrec.model_owners ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgrec.model_versions ENABLE ROW LEVEL SECURITY;

CREATE POLICY readable ON pgrec.model_owners FOR SELECT
    USING (0 OPERATOR(pg_catalog.=) ANY (readers)
           OR (ARRAY[owner::oid] OPERATOR(pg_catalog.||) readers) OPERATOR(pg_catalog.&&)
                  ARRAY(SELECT r.oid FROM pg_catalog.pg_roles r
                        WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
-- A new name is registered to yourself only, with no readers; names are never renamed or re-owned.
CREATE POLICY register ON pgrec.model_owners FOR INSERT
    WITH CHECK (owner = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
                AND cardinality(readers) = 0);
CREATE POLICY owner_update ON pgrec.model_owners FOR UPDATE
    USING (owner IN (SELECT r.oid FROM pg_catalog.pg_roles r
                     WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))
    WITH CHECK (owner IN (SELECT r.oid FROM pg_catalog.pg_roles r
                          WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
CREATE POLICY owner_delete ON pgrec.model_owners FOR DELETE
    USING (owner IN (SELECT r.oid FROM pg_catalog.pg_roles r
                     WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));

-- A version's owner and readers always come from its model_owners row: set on insert, and
-- copied to every version when the grants change. The copy runs as the extension's owner (the
-- columns are not writable by anyone else), for a model_owners row the caller was allowed to
-- update, i.e. one it owns.
CREATE FUNCTION pgrec._version_acl() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ BEGIN
    SELECT o.owner, o.readers INTO NEW.owner, NEW.readers
    FROM pgrec.model_owners o WHERE o.model OPERATOR(pg_catalog.=) NEW.model;
    RETURN NEW;
END $$;
CREATE TRIGGER version_acl BEFORE INSERT ON pgrec.model_versions
    FOR EACH ROW EXECUTE FUNCTION pgrec._version_acl();

CREATE FUNCTION pgrec._propagate_readers() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ BEGIN
    UPDATE pgrec.model_versions v SET readers = NEW.readers
    WHERE v.model OPERATOR(pg_catalog.=) NEW.model;
    RETURN NULL;
END $$;
CREATE TRIGGER propagate_readers AFTER UPDATE OF readers ON pgrec.model_owners
    FOR EACH ROW EXECUTE FUNCTION pgrec._propagate_readers();
REVOKE EXECUTE ON FUNCTION pgrec._version_acl(), pgrec._propagate_readers() FROM PUBLIC;

-- Names you own (a member of the owner role): the write side of every policy below.
CREATE VIEW pgrec._owned_models WITH (security_invoker = true) AS
SELECT o.model FROM pgrec.model_owners o
WHERE o.owner IN (SELECT r.oid FROM pg_catalog.pg_roles r
                  WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'));

CREATE POLICY readable ON pgrec.model_versions FOR SELECT
    USING (0 OPERATOR(pg_catalog.=) ANY (readers)
           OR (ARRAY[owner::oid] OPERATOR(pg_catalog.||) readers) OPERATOR(pg_catalog.&&)
                  ARRAY(SELECT r.oid FROM pg_catalog.pg_roles r
                        WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));
CREATE POLICY owner_insert ON pgrec.model_versions FOR INSERT
    WITH CHECK (model IN (SELECT model FROM pgrec._owned_models));
CREATE POLICY owner_update ON pgrec.model_versions FOR UPDATE
    USING (model IN (SELECT model FROM pgrec._owned_models))
    WITH CHECK (model IN (SELECT model FROM pgrec._owned_models));
CREATE POLICY owner_delete ON pgrec.model_versions FOR DELETE
    USING (model IN (SELECT model FROM pgrec._owned_models));

-- Versions of models you own: writable factor, history and tensor rows.
CREATE VIEW pgrec._writable_versions WITH (security_invoker = true) AS
SELECT v.id FROM pgrec.model_versions v
WHERE v.owner IN (SELECT r.oid FROM pg_catalog.pg_roles r
                  WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'));

-- The per-version tables all get the same four policies: readable when their version is (the
-- subquery sees only readable versions), writable when it belongs to a model you own.
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['user_factors', 'item_factors', 'training_history', 'model_tensors'] LOOP
        EXECUTE format('ALTER TABLE pgrec.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY readable ON pgrec.%I FOR SELECT
                            USING (version_id IN (SELECT v.id FROM pgrec.model_versions v))', t);
        EXECUTE format('CREATE POLICY owner_insert ON pgrec.%I FOR INSERT
                            WITH CHECK (version_id IN (SELECT id FROM pgrec._writable_versions))', t);
        EXECUTE format('CREATE POLICY owner_update ON pgrec.%I FOR UPDATE
                            USING (version_id IN (SELECT id FROM pgrec._writable_versions))
                            WITH CHECK (version_id IN (SELECT id FROM pgrec._writable_versions))', t);
        EXECUTE format('CREATE POLICY owner_delete ON pgrec.%I FOR DELETE
                            USING (version_id IN (SELECT id FROM pgrec._writable_versions))', t);
    END LOOP;
END $$;
GRANT SELECT ON pgrec._owned_models, pgrec._writable_versions TO PUBLIC;

CREATE FUNCTION pgrec."_grant_model"(
	"model" TEXT, /* Option < & str > */
	"role" TEXT /* Option < & str > */
) RETURNS void
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'grant_model_wrapper';

CREATE FUNCTION pgrec."_revoke_model"(
	"model" TEXT, /* Option < & str > */
	"role" TEXT /* Option < & str > */
) RETURNS void
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'revoke_model_wrapper';

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

CREATE FUNCTION pgrec."algorithms"() RETURNS TABLE (
	"algorithm" TEXT,  /* alloc::string::String */
	"available" bool,  /* bool */
	"needs_ratings" bool,  /* core::option::Option<bool> */
	"uses_features" bool  /* core::option::Option<bool> */
)
STABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'algorithms_wrapper';

COMMENT ON FUNCTION pgrec.algorithms() IS
'Every algorithm name pgrec.train accepts, whether this version can train it, and whether it needs a rating column and reads feature sources (with default params).';

-- Fold-in (implicit feedback issue): anonymous baskets and new users without retraining.
CREATE FUNCTION pgrec."recommend_for_items"(
	"model" TEXT, /* & str */
	"item_ids" bigint[], /* Vec < Option < i64 > > */
	"k" INT DEFAULT 10 /* i32 */
) RETURNS TABLE (
	"item_id" bigint,  /* i64 */
	"score" real  /* f32 */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_for_items_int_wrapper';

CREATE FUNCTION pgrec."recommend_for_items"(
	"model" TEXT, /* & str */
	"item_ids" TEXT[], /* Vec < Option < String > > */
	"k" INT DEFAULT 10 /* i32 */
) RETURNS TABLE (
	"item_id" TEXT,  /* String */
	"score" real  /* f32 */
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_for_items_text_wrapper';

CREATE FUNCTION pgrec."fold_in"(
	"model" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"user_col" TEXT DEFAULT 'user_id', /* Option < & str > */
	"item_col" TEXT DEFAULT 'item_id', /* Option < & str > */
	"rating_col" TEXT DEFAULT 'rating' /* Option < & str > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fold_in_wrapper';


COMMENT ON FUNCTION pgrec.recommend_for_items(text, bigint[], int) IS
'Top-k items for an anonymous basket of item ids (integer item keys): the basket is folded in as one user against the active version (mf, als, ials, bpr) and its items are excluded. Nothing is stored.';
COMMENT ON FUNCTION pgrec.recommend_for_items(text, text[], int) IS
'Top-k items for an anonymous basket of item keys given as text: the basket is folded in as one user against the active version (mf, als, ials, bpr) and its items are excluded. Nothing is stored.';
COMMENT ON FUNCTION pgrec.fold_in(text, text, text, text, text) IS
'Embeds the users of a source from their full histories against the active version''s item factors and adds them to that version (or replaces them); they are servable at once. Owner only; returns the number of users folded in.';

CREATE FUNCTION pgrec."_source_from"(
	"source" TEXT /* & str */
) RETURNS TEXT /* String */
STRICT STABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'source_from_wrapper';

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

-- evaluate: relevance_threshold defaults to the model's positive_threshold (else 4).
CREATE OR REPLACE FUNCTION pgrec."evaluate"(
	"model" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"relevance_threshold" real DEFAULT NULL /* Option < f32 > */
) RETURNS jsonb /* JsonB */
STABLE PARALLEL RESTRICTED
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'evaluate_wrapper';

-- Operations: replay the active version's training, choose the served version.
CREATE FUNCTION pgrec."retrain"(
	"model" TEXT /* Option < & str > */
) RETURNS TABLE (
	"model" TEXT,  /* String */
	"version" INT,  /* i32 */
	"algorithm" TEXT,  /* String */
	"n_users" bigint,  /* i64 */
	"n_items" bigint,  /* i64 */
	"n_interactions" bigint,  /* i64 */
	"train_seconds" double precision,  /* f64 */
	"metrics" jsonb  /* JsonB */
)
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'retrain_wrapper';
CREATE FUNCTION pgrec."activate"(
	"model" TEXT, /* Option < & str > */
	"version" INT /* Option < i32 > */
) RETURNS void
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'activate_wrapper';
COMMENT ON FUNCTION pgrec.retrain(text) IS
'Replays the training recorded with the active version (source, algorithm, columns, params, feature sources) as a new version, active once the transaction commits; for pg_cron. Owner only.';
COMMENT ON FUNCTION pgrec.activate(text, int) IS
'Makes a kept version the one serving reads (rollback or forward), from the commit on. Owner only.';

-- similar_items gained method and shrinkage (the three-argument functions would call the new
-- symbols with too few arguments, so they are replaced).
DROP FUNCTION pgrec.similar_items(text, bigint, int);
DROP FUNCTION pgrec.similar_items(text, text, int);
CREATE FUNCTION pgrec."similar_items"(
	"model" TEXT,
	"item_id" bigint,
	"k" INT DEFAULT 10,
	"method" TEXT DEFAULT 'embedding',
	"shrinkage" real DEFAULT NULL
) RETURNS TABLE (
	"item_id" bigint,
	"similarity" real
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'similar_items_method_int_wrapper';
CREATE FUNCTION pgrec."similar_items"(
	"model" TEXT,
	"item_id" TEXT,
	"k" INT DEFAULT 10,
	"method" TEXT DEFAULT 'embedding',
	"shrinkage" real DEFAULT NULL
) RETURNS TABLE (
	"item_id" TEXT,
	"similarity" real
)
STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'similar_items_method_text_wrapper';
COMMENT ON FUNCTION pgrec.similar_items(text, bigint, int, text, real) IS
'The k items most similar to the given item (integer keys), the item itself excluded. method ''embedding'' (default): cosine of the item vectors times n / (n + shrinkage), n being the neighbour''s training interactions (shrinkage defaults to 25); ''cooccurrence'': cosine of who interacted with what (shrinkage defaults to 0).';
COMMENT ON FUNCTION pgrec.similar_items(text, text, int, text, real) IS
'The k items most similar to the given item (any key kind, spelled as text), the item itself excluded. method ''embedding'' (default): cosine of the item vectors times n / (n + shrinkage), n being the neighbour''s training interactions (shrinkage defaults to 25); ''cooccurrence'': cosine of who interacted with what (shrinkage defaults to 0).';

-- Serving for applications (issue 12): recommend gained candidates (the four-argument
-- functions would call the new symbols with too few arguments, so they are replaced); uuid
-- overloads; score, recommend_batch, similar_users; pca and embedding_stats.
DROP FUNCTION pgrec.recommend(text, bigint, int, boolean);
DROP FUNCTION pgrec.recommend(text, text, int, boolean);
CREATE FUNCTION pgrec."embedding_stats"(
	"model" TEXT
) RETURNS jsonb
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'embedding_stats_wrapper';
CREATE FUNCTION pgrec."pca"(
	"model" TEXT,
	"side" TEXT DEFAULT 'item',
	"components" INT DEFAULT 2
) RETURNS TABLE (
	"id" bigint,
	"key" TEXT,
	"coords" real[]
)
STRICT STABLE PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'pca_wrapper';
CREATE FUNCTION pgrec."predict"(
	"model" TEXT,
	"user_id" uuid,
	"item_id" uuid
) RETURNS real
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'predict_uuid_wrapper';
CREATE FUNCTION pgrec."recommend"(
	"model" TEXT,
	"user_id" bigint,
	"k" INT DEFAULT 10,
	"exclude_seen" bool DEFAULT true,
	"candidates" bigint[] DEFAULT NULL
) RETURNS TABLE (
	"item_id" bigint,
	"score" real
)
STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_candidates_int_wrapper';
CREATE FUNCTION pgrec."recommend"(
	"model" TEXT,
	"user_id" TEXT,
	"k" INT DEFAULT 10,
	"exclude_seen" bool DEFAULT true,
	"candidates" TEXT[] DEFAULT NULL
) RETURNS TABLE (
	"item_id" TEXT,
	"score" real
)
STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_candidates_text_wrapper';
CREATE FUNCTION pgrec."recommend"(
	"model" TEXT,
	"user_id" uuid,
	"k" INT DEFAULT 10,
	"exclude_seen" bool DEFAULT true,
	"candidates" uuid[] DEFAULT NULL
) RETURNS TABLE (
	"item_id" uuid,
	"score" real
)
STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_uuid_wrapper';
CREATE FUNCTION pgrec."recommend_batch"(
	"model" TEXT,
	"user_ids" bigint[],
	"k" INT DEFAULT 10,
	"exclude_seen" bool DEFAULT true
) RETURNS TABLE (
	"user_id" bigint,
	"rank" INT,
	"item_id" bigint,
	"score" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_batch_int_wrapper';
CREATE FUNCTION pgrec."recommend_batch"(
	"model" TEXT,
	"user_ids" TEXT[],
	"k" INT DEFAULT 10,
	"exclude_seen" bool DEFAULT true
) RETURNS TABLE (
	"user_id" TEXT,
	"rank" INT,
	"item_id" TEXT,
	"score" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_batch_text_wrapper';
CREATE FUNCTION pgrec."recommend_batch"(
	"model" TEXT,
	"user_ids" uuid[],
	"k" INT DEFAULT 10,
	"exclude_seen" bool DEFAULT true
) RETURNS TABLE (
	"user_id" uuid,
	"rank" INT,
	"item_id" uuid,
	"score" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_batch_uuid_wrapper';
CREATE FUNCTION pgrec."recommend_for_items"(
	"model" TEXT,
	"item_ids" uuid[],
	"k" INT DEFAULT 10
) RETURNS TABLE (
	"item_id" uuid,
	"score" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'recommend_for_items_uuid_wrapper';
CREATE FUNCTION pgrec."score"(
	"model" TEXT,
	"user_id" bigint,
	"item_ids" bigint[]
) RETURNS TABLE (
	"item_id" bigint,
	"score" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'score_int_wrapper';
CREATE FUNCTION pgrec."score"(
	"model" TEXT,
	"user_id" TEXT,
	"item_ids" TEXT[]
) RETURNS TABLE (
	"item_id" TEXT,
	"score" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'score_text_wrapper';
CREATE FUNCTION pgrec."score"(
	"model" TEXT,
	"user_id" uuid,
	"item_ids" uuid[]
) RETURNS TABLE (
	"item_id" uuid,
	"score" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'score_uuid_wrapper';
CREATE FUNCTION pgrec."similar_items"(
	"model" TEXT,
	"item_id" uuid,
	"k" INT DEFAULT 10,
	"method" TEXT DEFAULT 'embedding',
	"shrinkage" real DEFAULT NULL
) RETURNS TABLE (
	"item_id" uuid,
	"similarity" real
)
STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'similar_items_uuid_wrapper';
CREATE FUNCTION pgrec."similar_users"(
	"model" TEXT,
	"user_id" bigint,
	"k" INT DEFAULT 10
) RETURNS TABLE (
	"user_id" bigint,
	"similarity" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'similar_users_int_wrapper';
CREATE FUNCTION pgrec."similar_users"(
	"model" TEXT,
	"user_id" TEXT,
	"k" INT DEFAULT 10
) RETURNS TABLE (
	"user_id" TEXT,
	"similarity" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'similar_users_text_wrapper';
CREATE FUNCTION pgrec."similar_users"(
	"model" TEXT,
	"user_id" uuid,
	"k" INT DEFAULT 10
) RETURNS TABLE (
	"user_id" uuid,
	"similarity" real
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c
AS 'MODULE_PATHNAME', 'similar_users_uuid_wrapper';
COMMENT ON FUNCTION pgrec.recommend(text, bigint, int, boolean, bigint[]) IS
'The k best items for a user with an integer key, best first; items are returned as bigint (the model must have integer item keys). exclude_seen skips items the user rated in training; candidates, when given, restricts the ranking to those items.';
COMMENT ON FUNCTION pgrec.recommend(text, text, int, boolean, text[]) IS
'The k best items for a user (any key kind, spelled as text), best first; item keys are returned as text. candidates, when given, restricts the ranking to those items.';
COMMENT ON FUNCTION pgrec.recommend(text, uuid, int, boolean, uuid[]) IS
'The k best items for a user of a model with uuid keys, best first; items are returned as uuid. candidates, when given, restricts the ranking to those items.';
COMMENT ON FUNCTION pgrec.predict(text, uuid, uuid) IS
'Predicted rating (or score) of an item by a user, for models with uuid keys; NULL when unknown.';
COMMENT ON FUNCTION pgrec.similar_items(text, uuid, int, text, real) IS
'The k items most similar to the given item, for models with uuid item keys (returned as uuid); method and shrinkage as for the bigint version.';
COMMENT ON FUNCTION pgrec.recommend_for_items(text, uuid[], int) IS
'Recommendations for an anonymous basket of uuid items, returned as uuid; nothing is stored.';
COMMENT ON FUNCTION pgrec.score(text, bigint, bigint[]) IS
'Scores of the given items for a user (integer keys), best first, each item once, with the score recommend ranks by; unknown items are skipped with a NOTICE. For re-ranking a candidate list.';
COMMENT ON FUNCTION pgrec.score(text, text, text[]) IS
'Scores of the given items for a user (any key kind, spelled as text), best first, each item once; unknown items are skipped with a NOTICE.';
COMMENT ON FUNCTION pgrec.score(text, uuid, uuid[]) IS
'Scores of the given items for a user of a model with uuid keys, best first, returned as uuid.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, bigint[], int, boolean) IS
'The k best items for each of many users (integer keys) in one call: one row per (user, rank), ranks from 1. Computed as matrix products over chunks of users on the pgrec.threads pool; the same items as one recommend call per user.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, text[], int, boolean) IS
'The k best items for each of many users (any key kind, spelled as text) in one call: one row per (user, rank), keys as text.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, uuid[], int, boolean) IS
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

-- Models made servable on every node of a Citus cluster (pgrec.distribute_model): per model,
-- its active version's serving data and what serving needs. A plain table; distribute_model
-- makes it a Citus reference table, so that every node holds a copy and each change commits on
-- all of them at once. Roles by name (the same on every node, as Citus creates them).
CREATE TABLE pgrec.distributed_models (
    model text PRIMARY KEY,
    owner name NOT NULL,
    readers name[] NOT NULL DEFAULT '{}',
    version_id bigint NOT NULL,
    version int NOT NULL,
    info jsonb NOT NULL,
    params jsonb NOT NULL,
    serving bytea NOT NULL,
    distributed_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE pgrec.distributed_models ENABLE ROW LEVEL SECURITY;
-- Citus refuses subqueries in the policies of distributed tables: the role check is a function.
-- Its search_path is fixed: a caller's schema cannot shadow an operator and see every row.
CREATE FUNCTION pgrec._member_of_any(roles name[]) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT 'public' = ANY (roles)
        OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                   WHERE r.rolname = ANY (roles) AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))
$$;
CREATE POLICY readable ON pgrec.distributed_models FOR SELECT
    USING (pgrec._member_of_any(array_prepend(owner, readers)));
-- Every node trusts these rows, and a worker cannot check a row against the coordinator's
-- pgrec.model_owners: only the extension's owner writes them (pgrec's functions do, for a
-- model the caller owns; see access::as_extension_owner), no other role at all.
GRANT SELECT ON pgrec.distributed_models TO PUBLIC;
COMMENT ON TABLE pgrec.distributed_models IS 'pgrec on Citus: per model, the serving data of its active version, on every node (see pgrec.distribute_model).';

CREATE FUNCTION pgrec."distribute_model"(
	"model" TEXT /* Option < & str > */
) RETURNS void
VOLATILE PARALLEL UNSAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'distribute_model_wrapper';
COMMENT ON FUNCTION pgrec.distribute_model(text) IS
'Citus: makes the active version of the model servable on every node (its serving data in the reference table pgrec.distributed_models), and keeps it current: later trainings, activate, grants and fold-in update every node in the same transaction. Owner only.';
