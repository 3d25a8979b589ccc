-- pgrec catalog: models, their versions, the learned factors and the training history.
-- Everything is an ordinary table, so models replicate, dump and restore like any data.

-- Who owns each model name. The first training of a name registers it; only members of the
-- owning role may add versions to it or drop it.
CREATE TABLE pgrec.model_owners (
    model       text        PRIMARY KEY CHECK (model <> ''),
    owner       name        NOT NULL DEFAULT current_user,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pgrec.model_versions (
    id              bigserial PRIMARY KEY,
    model           text        NOT NULL REFERENCES pgrec.model_owners (model) ON DELETE CASCADE,
    version         int         NOT NULL,
    algorithm       text        NOT NULL,
    params          jsonb       NOT NULL,
    metrics         jsonb       NOT NULL,
    source          text        NOT NULL,
    user_col        text        NOT NULL,
    item_col        text        NOT NULL,
    rating_col      text,
    user_key_type   text        NOT NULL CHECK (user_key_type IN ('bigint', 'text')),
    item_key_type   text        NOT NULL CHECK (item_key_type IN ('bigint', 'text')),
    n_users         bigint      NOT NULL,
    n_items         bigint      NOT NULL,
    n_interactions  bigint      NOT NULL,
    factors         int         NOT NULL,
    global_mean     real        NOT NULL,
    rating_min      real,
    rating_max      real,
    train_seconds   float8      NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    owner           name        NOT NULL DEFAULT current_user,
    active          boolean     NOT NULL DEFAULT false,
    -- Neural models: the feature columns of each side with their kinds, vocabularies and
    -- standardization, so that entities can be encoded again exactly as in training.
    features        jsonb,
    UNIQUE (model, version)
);
-- At most one active version per model; a new one becomes visible when its transaction commits.
CREATE UNIQUE INDEX model_versions_one_active ON pgrec.model_versions (model) WHERE active;

CREATE TABLE pgrec.user_factors (
    version_id  bigint NOT NULL REFERENCES pgrec.model_versions (id) ON DELETE CASCADE,
    idx         int    NOT NULL,
    user_id     bigint,          -- integer-keyed models
    user_key    text,            -- text-keyed models
    bias        real   NOT NULL,
    embedding   real[] NOT NULL,
    seen_items  int[]  NOT NULL, -- idx of the items this user rated in training (exclude_seen)
    PRIMARY KEY (version_id, idx),
    CHECK ((user_id IS NULL) <> (user_key IS NULL))
);

CREATE TABLE pgrec.item_factors (
    version_id  bigint NOT NULL REFERENCES pgrec.model_versions (id) ON DELETE CASCADE,
    idx         int    NOT NULL,
    item_id     bigint,
    item_key    text,
    bias        real   NOT NULL,
    embedding   real[] NOT NULL,
    PRIMARY KEY (version_id, idx),
    CHECK ((item_id IS NULL) <> (item_key IS NULL))
);

CREATE TABLE pgrec.training_history (
    version_id      bigint NOT NULL REFERENCES pgrec.model_versions (id) ON DELETE CASCADE,
    epoch           int    NOT NULL,
    train_rmse      float8,          -- explicit-rating losses
    train_loss      float8 NOT NULL, -- mean training loss of the epoch (squared error for mse)
    validation_rmse float8,
    seconds         float8 NOT NULL,
    PRIMARY KEY (version_id, epoch)
);

-- Parameters of neural models (tower layers, embedding tables), one row per named block.
CREATE TABLE pgrec.model_tensors (
    version_id  bigint NOT NULL REFERENCES pgrec.model_versions (id) ON DELETE CASCADE,
    name        text   NOT NULL,
    rows        int    NOT NULL,
    cols        int    NOT NULL,
    data        real[] NOT NULL,
    PRIMARY KEY (version_id, name),
    CHECK (cardinality(data) = rows * cols)
);

CREATE VIEW pgrec.models AS
SELECT model, version, algorithm, params, metrics, n_users, n_items, n_interactions,
       train_seconds, created_at, owner, active
FROM pgrec.model_versions;

COMMENT ON VIEW pgrec.models IS 'Every trained model version with its parameters, metrics and owner; active marks the version that serving functions read.';
COMMENT ON TABLE pgrec.model_versions IS 'pgrec catalog: one row per trained model version.';
COMMENT ON TABLE pgrec.user_factors IS 'pgrec: learned user biases and embeddings, one row per user and model version.';
COMMENT ON TABLE pgrec.item_factors IS 'pgrec: learned item biases and embeddings, one row per item and model version.';
COMMENT ON TABLE pgrec.training_history IS 'pgrec: per-epoch training loss (and RMSE for explicit ratings) and validation RMSE of each model version.';
COMMENT ON TABLE pgrec.model_tensors IS 'pgrec: the weights of neural models (tower MLPs, id and feature embedding tables), one row per named block, row-major.';

-- Everyone may read models (serving runs as application roles); only a model's owner (or a
-- member of the owning role) may add versions to it, change it or drop it.
GRANT USAGE ON SCHEMA pgrec TO PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON pgrec.model_versions, pgrec.user_factors,
    pgrec.item_factors, pgrec.training_history, pgrec.model_tensors TO PUBLIC;
GRANT SELECT, INSERT, DELETE ON pgrec.model_owners TO PUBLIC;
GRANT SELECT ON pgrec.models TO PUBLIC;
GRANT USAGE ON SEQUENCE pgrec.model_versions_id_seq TO PUBLIC;

-- Membership test that is safe to call from policies: a fixed search_path (no shadowing of
-- pg_has_role by a caller's schema), and a dropped owner role means "not a member" instead of an
-- error. Superusers count as members of every role.
CREATE FUNCTION pgrec._is_member(role_name name) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS
$$ SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.rolname OPERATOR(pg_catalog.=) role_name
                    AND pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER'))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_roles r
                  WHERE r.rolname OPERATOR(pg_catalog.=) current_user AND r.rolsuper) $$;

-- The write policies below use uncorrelated subqueries (evaluated once per statement, not once
-- per row) instead of function calls. Policy expressions are stored parsed, with pg_has_role and
-- the operators already resolved, so a caller's search_path cannot change them; joining
-- pg_roles first means a dropped owner role is simply "nobody".
ALTER TABLE pgrec.model_owners ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgrec.model_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgrec.user_factors ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgrec.item_factors ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgrec.training_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE pgrec.model_tensors ENABLE ROW LEVEL SECURITY;

CREATE POLICY read_all ON pgrec.model_owners FOR SELECT USING (true);
-- A new name is registered to yourself only; names are never renamed or re-owned here.
CREATE POLICY register ON pgrec.model_owners FOR INSERT WITH CHECK (owner = current_user);
CREATE POLICY owner_delete ON pgrec.model_owners FOR DELETE
    USING (owner IN (SELECT r.rolname FROM pg_catalog.pg_roles r
                     WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));

CREATE POLICY read_all ON pgrec.model_versions FOR SELECT USING (true);
CREATE POLICY owner_write ON pgrec.model_versions FOR ALL
    USING (model IN (SELECT o.model FROM pgrec.model_owners o JOIN pg_catalog.pg_roles r ON r.rolname = o.owner
                     WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')))
    WITH CHECK (model IN (SELECT o.model FROM pgrec.model_owners o JOIN pg_catalog.pg_roles r ON r.rolname = o.owner
                          WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER')));

-- Factor and history rows: writable when their version belongs to a model you own.
CREATE VIEW pgrec._writable_versions AS
SELECT v.id FROM pgrec.model_versions v
JOIN pgrec.model_owners o ON o.model = v.model
JOIN pg_catalog.pg_roles r ON r.rolname = o.owner
WHERE pg_catalog.pg_has_role(current_user, r.oid, 'MEMBER');

CREATE POLICY read_all ON pgrec.user_factors FOR SELECT USING (true);
CREATE POLICY owner_write ON pgrec.user_factors FOR ALL
    USING (version_id IN (SELECT id FROM pgrec._writable_versions))
    WITH CHECK (version_id IN (SELECT id FROM pgrec._writable_versions));
CREATE POLICY read_all ON pgrec.item_factors FOR SELECT USING (true);
CREATE POLICY owner_write ON pgrec.item_factors FOR ALL
    USING (version_id IN (SELECT id FROM pgrec._writable_versions))
    WITH CHECK (version_id IN (SELECT id FROM pgrec._writable_versions));
CREATE POLICY read_all ON pgrec.training_history FOR SELECT USING (true);
CREATE POLICY owner_write ON pgrec.training_history FOR ALL
    USING (version_id IN (SELECT id FROM pgrec._writable_versions))
    WITH CHECK (version_id IN (SELECT id FROM pgrec._writable_versions));
CREATE POLICY read_all ON pgrec.model_tensors FOR SELECT USING (true);
CREATE POLICY owner_write ON pgrec.model_tensors FOR ALL
    USING (version_id IN (SELECT id FROM pgrec._writable_versions))
    WITH CHECK (version_id IN (SELECT id FROM pgrec._writable_versions));
GRANT SELECT ON pgrec._writable_versions TO PUBLIC;
