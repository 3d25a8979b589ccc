-- pgrec catalog: models, their versions, the learned factors and the training history.
-- Everything is an ordinary table, so models replicate, dump and restore like any data.

-- Who owns each model name and who else may read it. The first training of a name registers it
-- to the training role; only members of the owning role may add versions to it, grant it or drop
-- it. The owner is stored by OID, so a dropped role re-created under the same name inherits
-- nothing; readers holds the OIDs of the roles granted with pgrec.grant_model, 0 for PUBLIC.
-- owner_name and reader_names are the same roles by name, kept in step by a trigger (below):
-- what a dump carries to another cluster, where the OIDs name other roles or none.
CREATE TABLE pgrec.model_owners (
    model        text        PRIMARY KEY CHECK (model <> ''),
    owner        oid         NOT NULL,
    readers      oid[]       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    owner_name   name        NOT NULL,
    reader_names name[]      NOT NULL DEFAULT '{}',
    -- Counts the changes to the model's hidden items (pgrec.hide_items / unhide_items): serving
    -- caches compare it with what they loaded.
    hidden_changes bigint    NOT NULL DEFAULT 0
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
    active          boolean     NOT NULL DEFAULT false,
    -- Neural models: the feature columns of each side with their kinds, vocabularies and
    -- standardization, so that entities can be encoded again exactly as in training.
    features        jsonb,
    -- How serving scores a pair ('dot': biases + dot product of the vectors; 'network': biases
    -- + the stored scoring network, model_tensors joint.*) and what the score estimates
    -- ('rating', or 'relevance' for models trained on binary relevance).
    scorer          text        NOT NULL DEFAULT 'dot' CHECK (scorer IN ('dot', 'network')),
    target          text        NOT NULL DEFAULT 'rating' CHECK (target IN ('rating', 'relevance')),
    -- The feature sources as given to pgrec.train (with source, the columns, algorithm and
    -- params, everything needed to replay the training).
    user_features   text,
    item_features   text,
    -- Copies of the model's model_owners.owner and .readers, kept in step by triggers (below),
    -- so that the read policy of this table and of everything hanging off it needs no join and
    -- costs the same however many models the catalog holds.
    owner           oid         NOT NULL,
    readers         oid[]       NOT NULL DEFAULT '{}',
    UNIQUE (model, version)
);
-- At most one active version per model; a new one becomes visible when its transaction commits.
CREATE UNIQUE INDEX model_versions_one_active ON pgrec.model_versions (model) WHERE active;

-- The factor tables carry no foreign key to model_versions: checked once per inserted row, it
-- took half the time of storing a model. Their insert policy admits only versions that exist
-- and that the caller owns; the trigger after model_versions deletes their rows with it.
CREATE TABLE pgrec.user_factors (
    version_id  bigint NOT NULL,
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
    version_id  bigint NOT NULL,
    idx         int    NOT NULL,
    item_id     bigint,
    item_key    text,
    bias        real   NOT NULL,
    embedding   real[] NOT NULL,
    PRIMARY KEY (version_id, idx),
    CHECK ((item_id IS NULL) <> (item_key IS NULL))
);

-- A version's factors go with it (as a cascade would take them). BEFORE the row goes, so that
-- the factor tables' delete policy (versions the caller owns) still sees it.
CREATE FUNCTION pgrec._delete_version_factors() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM pgrec.user_factors WHERE version_id = OLD.id;
    DELETE FROM pgrec.item_factors WHERE version_id = OLD.id;
    RETURN OLD;
END
$$;
CREATE TRIGGER delete_factors BEFORE DELETE ON pgrec.model_versions
    FOR EACH ROW EXECUTE FUNCTION pgrec._delete_version_factors();

CREATE TABLE pgrec.training_history (
    version_id      bigint NOT NULL REFERENCES pgrec.model_versions (id) ON DELETE CASCADE,
    epoch           int    NOT NULL,
    train_rmse      float8,          -- explicit-rating losses
    train_loss      float8 NOT NULL, -- mean training loss of the epoch (squared error for mse)
    validation_rmse float8,
    seconds         float8 NOT NULL,
    -- Every measurement of the step by name (train_loss, train_rmse, validation_rmse, ...).
    metrics         jsonb  NOT NULL DEFAULT '{}',
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
COMMENT ON TABLE pgrec.model_owners IS 'pgrec catalog: the owner role of each model name and the roles granted read access (readers; 0 is PUBLIC), by OID and by name (owner_name, reader_names; what a dump carries).';
COMMENT ON TABLE pgrec.model_versions IS 'pgrec catalog: one row per trained model version.';
COMMENT ON TABLE pgrec.user_factors IS 'pgrec: learned user biases and embeddings, one row per user and model version.';
COMMENT ON TABLE pgrec.item_factors IS 'pgrec: learned item biases and embeddings, one row per item and model version.';
COMMENT ON TABLE pgrec.training_history IS 'pgrec: per-epoch training loss (and RMSE for explicit ratings) and validation RMSE of each model version; metrics holds every measurement by name.';
COMMENT ON TABLE pgrec.model_tensors IS 'pgrec: the weights of neural models (tower MLPs, id and feature embedding tables) and what a fold-in reads beyond the factors (vbmf''s learned priors and noise, named fold.*), one row per named block, row-major.';

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
GRANT UPDATE (readers, hidden_changes) ON pgrec.model_owners TO PUBLIC;
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
$$ SELECT o.owner::pg_catalog.regrole FROM pgrec.model_owners o WHERE o.model OPERATOR(pg_catalog.=) $1 $$;

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

-- Roles by name. Every write of a model_owners row sets owner_name and reader_names from the
-- OIDs ('public' for PUBLIC's 0; '' for a role that no longer exists, which no role can be
-- named). A row that arrives with its names already set is a restore (pg_dump writes every
-- column): there the names decide, and the OIDs, which may name other roles in this cluster or
-- none, are looked up again by name. An owner missing here becomes the role running the
-- restore, a missing grantee is left out, each with a WARNING; a grant never lands on another
-- role. Ordinary writes cannot use this to claim a model: the policies check the resolved row.
CREATE FUNCTION pgrec._role_names() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$
DECLARE
    found oid;
    reader name;
    resolved oid[] := '{}';
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'INSERT' AND NEW.owner_name IS NOT NULL THEN
        SELECT r.oid INTO found FROM pg_catalog.pg_roles r
        WHERE r.rolname OPERATOR(pg_catalog.=) NEW.owner_name;
        IF found IS NULL THEN
            SELECT r.oid INTO found FROM pg_catalog.pg_roles r
            WHERE r.rolname OPERATOR(pg_catalog.=) current_user;
            RAISE WARNING 'pgrec: role "%", the owner of model "%", does not exist; the model is owned by "%"',
                NEW.owner_name, NEW.model, current_user
                USING HINT = 'Create the role before restoring to keep the owner, or hand the model over as a superuser.';
        END IF;
        NEW.owner := found;
        FOREACH reader IN ARRAY NEW.reader_names LOOP
            IF reader OPERATOR(pg_catalog.=) 'public' THEN
                found := 0;
            ELSE
                SELECT r.oid INTO found FROM pg_catalog.pg_roles r
                WHERE r.rolname OPERATOR(pg_catalog.=) reader;
                IF found IS NULL THEN
                    RAISE WARNING 'pgrec: role "%", granted model "%", does not exist; the grant is left out',
                        reader, NEW.model
                        USING HINT = 'Create the role and grant it again with pgrec.grant_model.';
                    CONTINUE;
                END IF;
            END IF;
            IF NOT found OPERATOR(pg_catalog.=) ANY (resolved) THEN
                resolved := resolved OPERATOR(pg_catalog.||) found;
            END IF;
        END LOOP;
        NEW.readers := ARRAY(SELECT g FROM pg_catalog.unnest(resolved) AS g ORDER BY g);
    END IF;
    NEW.owner_name := coalesce((SELECT r.rolname FROM pg_catalog.pg_roles r
                                WHERE r.oid OPERATOR(pg_catalog.=) NEW.owner), '');
    NEW.reader_names := ARRAY(
        SELECT CASE WHEN g OPERATOR(pg_catalog.=) 0 THEN 'public'::name
                    ELSE coalesce(r.rolname, '') END
        FROM pg_catalog.unnest(NEW.readers) WITH ORDINALITY AS u(g, n)
        LEFT JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) u.g
        ORDER BY u.n);
    RETURN NEW;
END
$$;
CREATE TRIGGER role_names BEFORE INSERT OR UPDATE ON pgrec.model_owners
    FOR EACH ROW EXECUTE FUNCTION pgrec._role_names();
REVOKE EXECUTE ON FUNCTION pgrec._role_names() FROM PUBLIC;

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

-- Items a model never returns (out of stock, withdrawn), per model name: kept across versions
-- and retrains, by key in its text form (a bigint as its digits, a uuid in canonical form), so
-- an item may be hidden before a version knows it. Read with the model (serving needs them),
-- written by its owner (pgrec.hide_items / pgrec.unhide_items).
CREATE TABLE pgrec.hidden_items (
    model     text        NOT NULL REFERENCES pgrec.model_owners (model) ON DELETE CASCADE,
    item      text        NOT NULL,
    hidden_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, item)
);
ALTER TABLE pgrec.hidden_items ENABLE ROW LEVEL SECURITY;
-- model_owners' own policy decides which names the subquery sees.
CREATE POLICY readable ON pgrec.hidden_items FOR SELECT
    USING (model IN (SELECT o.model FROM pgrec.model_owners o));
CREATE POLICY owner_insert ON pgrec.hidden_items FOR INSERT
    WITH CHECK (model IN (SELECT model FROM pgrec._owned_models));
CREATE POLICY owner_delete ON pgrec.hidden_items FOR DELETE
    USING (model IN (SELECT model FROM pgrec._owned_models));
GRANT SELECT, INSERT, DELETE ON pgrec.hidden_items TO PUBLIC;
-- Every change to a model's hidden items, by pgrec.hide_items or by hand, moves its
-- hidden_changes, so that every backend's serving cache reads them again on its next call.
CREATE FUNCTION pgrec._hidden_changed() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS
$$
BEGIN
    UPDATE pgrec.model_owners o SET hidden_changes = o.hidden_changes OPERATOR(pg_catalog.+) 1
    WHERE o.model IN (SELECT c.model FROM changed c);
    RETURN NULL;
END
$$;
CREATE TRIGGER hidden_added AFTER INSERT ON pgrec.hidden_items
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION pgrec._hidden_changed();
CREATE TRIGGER hidden_removed AFTER DELETE ON pgrec.hidden_items
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION pgrec._hidden_changed();
COMMENT ON TABLE pgrec.hidden_items IS 'pgrec: items a model never returns (pgrec.hide_items), per model name, kept across versions and retrains; keys in text form.';

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

-- pg_dump and pg_dumpall carry the catalog: CREATE EXTENSION makes these tables, and marking
-- them makes a dump hold their rows (all of them) and the sequence's position too. A restore
-- loads model_owners first (the foreign keys order the tables), so the triggers above resolve
-- roles by name and give each version its owner's OIDs in the target cluster.
SELECT pg_catalog.pg_extension_config_dump('pgrec.model_owners', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.model_versions', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.model_versions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.user_factors', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.item_factors', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.training_history', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.model_tensors', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.distributed_models', '');
SELECT pg_catalog.pg_extension_config_dump('pgrec.hidden_items', '');
-- pg_dump reads the sequence's position (SELECT): a non-superuser can dump the models it may
-- read (--enable-row-security). The position says how many versions were ever trained, no more.
GRANT SELECT ON SEQUENCE pgrec.model_versions_id_seq TO PUBLIC;
