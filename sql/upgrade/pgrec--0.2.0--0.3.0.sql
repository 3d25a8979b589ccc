-- pgrec 0.2.0 -> 0.3.0: models survive pg_dump / pg_restore and pg_dumpall. The catalog tables
-- and the version sequence are marked for pg_dump, and roles travel by name: owners and readers
-- are plain OIDs with their names beside them (owner_name, reader_names), so a restore into
-- another cluster resolves each role by name, and never hands a model or a grant to whichever
-- role has the same OID there. Serving files: the view pgrec.serving_files, the function
-- pgrec.remove_unused_files(), and DROP EXTENSION removes the database's files.
\echo Use "ALTER EXTENSION pgrec UPDATE TO '0.3.0'" to load this file. \quit

-- Everything that reads the owner columns, dropped here and created again below as in a fresh
-- install (the column types change from regrole to oid).
DROP POLICY readable ON pgrec.model_owners;
DROP POLICY register ON pgrec.model_owners;
DROP POLICY owner_update ON pgrec.model_owners;
DROP POLICY owner_delete ON pgrec.model_owners;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['model_versions', 'user_factors', 'item_factors', 'training_history', 'model_tensors'] LOOP
        EXECUTE format('DROP POLICY readable ON pgrec.%I', t);
        EXECUTE format('DROP POLICY owner_insert ON pgrec.%I', t);
        EXECUTE format('DROP POLICY owner_update ON pgrec.%I', t);
        EXECUTE format('DROP POLICY owner_delete ON pgrec.%I', t);
    END LOOP;
END $$;
DROP VIEW pgrec.models;
DROP VIEW pgrec.model_grants;
DROP VIEW pgrec._owned_models;
DROP VIEW pgrec._writable_versions;

ALTER TABLE pgrec.model_owners
    ALTER COLUMN owner TYPE oid USING owner::oid,
    ADD COLUMN owner_name name,
    ADD COLUMN reader_names name[] NOT NULL DEFAULT '{}';
ALTER TABLE pgrec.model_versions ALTER COLUMN owner TYPE oid USING owner::oid;
COMMENT ON TABLE pgrec.model_owners IS 'pgrec catalog: the owner role of each model name and the roles granted read access (readers; 0 is PUBLIC), by OID and by name (owner_name, reader_names; what a dump carries).';

CREATE OR REPLACE FUNCTION pgrec._model_owner(model text) RETURNS regrole
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS
$$ SELECT o.owner::pg_catalog.regrole FROM pgrec.model_owners o WHERE o.model OPERATOR(pg_catalog.=) $1 $$;

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

-- The names of the models registered so far (an update fills them in from the OIDs).
UPDATE pgrec.model_owners SET owner_name = NULL;
ALTER TABLE pgrec.model_owners ALTER COLUMN owner_name SET NOT NULL;

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
GRANT SELECT ON pgrec.models, pgrec.model_grants TO PUBLIC;

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


-- The factor tables lose their foreign key to model_versions (checked once per inserted row, it
-- took half the time of storing a model); a trigger deletes a version's factors with it.
ALTER TABLE pgrec.user_factors DROP CONSTRAINT user_factors_version_id_fkey;
ALTER TABLE pgrec.item_factors DROP CONSTRAINT item_factors_version_id_fkey;
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
-- pg_dump reads the sequence's position (SELECT): a non-superuser can dump the models it may
-- read (--enable-row-security). The position says how many versions were ever trained, no more.
GRANT SELECT ON SEQUENCE pgrec.model_versions_id_seq TO PUBLIC;

-- Serving files: the view, the clean-up, and their removal by DROP EXTENSION.
CREATE FUNCTION pgrec."_serving_files"() RETURNS TABLE (
	"path" TEXT,
	"version_id" bigint,
	"stamp" bigint,
	"bytes" bigint
)
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'serving_files_wrapper';
CREATE FUNCTION pgrec."remove_unused_files"() RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'remove_unused_files_wrapper';
CREATE FUNCTION pgrec."_load"() RETURNS bool
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', 'load_wrapper';

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

-- What an application needs around the model (API v3): hidden items, exclude, the popular
-- fallback, pgrec.popular and diversity. Hidden items per model name, counted in
-- model_owners.hidden_changes so that serving caches notice every change.
ALTER TABLE pgrec.model_owners ADD COLUMN hidden_changes bigint NOT NULL DEFAULT 0;
GRANT UPDATE (hidden_changes) ON pgrec.model_owners TO PUBLIC;
CREATE TABLE pgrec.hidden_items (
    model     text        NOT NULL REFERENCES pgrec.model_owners (model) ON DELETE CASCADE,
    item      text        NOT NULL,
    hidden_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (model, item)
);
ALTER TABLE pgrec.hidden_items ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON pgrec.hidden_items FOR SELECT
    USING (model IN (SELECT o.model FROM pgrec.model_owners o));
CREATE POLICY owner_insert ON pgrec.hidden_items FOR INSERT
    WITH CHECK (model IN (SELECT model FROM pgrec._owned_models));
CREATE POLICY owner_delete ON pgrec.hidden_items FOR DELETE
    USING (model IN (SELECT model FROM pgrec._owned_models));
GRANT SELECT, INSERT, DELETE ON pgrec.hidden_items TO PUBLIC;
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
COMMENT ON TABLE pgrec.model_tensors IS 'pgrec: the weights of neural models (tower MLPs, id and feature embedding tables) and what a fold-in reads beyond the factors (vbmf''s learned priors and noise, named fold.*), one row per named block, row-major.';
COMMENT ON TABLE pgrec.hidden_items IS 'pgrec: items a model never returns (pgrec.hide_items), per model name, kept across versions and retrains; keys in text form.';
SELECT pg_catalog.pg_extension_config_dump('pgrec.hidden_items', '');

-- The serving functions gain exclude, fallback and diversity (new argument lists: dropped and
-- created again, with their comments); popular, hide_items and unhide_items are new.
DROP FUNCTION pgrec.recommend(text, bigint, int, boolean, bigint[]);
DROP FUNCTION pgrec.recommend(text, text, int, boolean, text[]);
DROP FUNCTION pgrec.recommend(text, uuid, int, boolean, uuid[]);
DROP FUNCTION pgrec.recommend_batch(text, bigint[], int, boolean);
DROP FUNCTION pgrec.recommend_batch(text, text[], int, boolean);
DROP FUNCTION pgrec.recommend_batch(text, uuid[], int, boolean);
DROP FUNCTION pgrec.recommend_for_items(text, bigint[], int);
DROP FUNCTION pgrec.recommend_for_items(text, text[], int);
DROP FUNCTION pgrec.recommend_for_items(text, uuid[], int);
DROP FUNCTION pgrec.similar_items(text, bigint, int, text, real);
DROP FUNCTION pgrec.similar_items(text, text, int, text, real);
DROP FUNCTION pgrec.similar_items(text, uuid, int, text, real);
CREATE FUNCTION pgrec."hide_items"(
	"model" TEXT, /* & str */
	"item_ids" bigint[] /* Vec < Option < i64 > > */
) RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'hide_items_int_wrapper';
CREATE FUNCTION pgrec."hide_items"(
	"model" TEXT, /* & str */
	"item_ids" TEXT[] /* Vec < Option < String > > */
) RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'hide_items_text_wrapper';
CREATE FUNCTION pgrec."hide_items"(
	"model" TEXT, /* & str */
	"item_ids" uuid[] /* Vec < Option < Uuid > > */
) RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'hide_items_uuid_wrapper';
CREATE FUNCTION pgrec."popular"(
	"model" TEXT, /* & str */
	"k" INT, /* i32 */
	"user_id" bigint, /* Option < i64 > */
	"exclude" bigint[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < i64 > > > */
) RETURNS TABLE (
	"item_id" bigint,  /* i64 */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'popular_int_wrapper';
CREATE FUNCTION pgrec."popular"(
	"model" TEXT, /* & str */
	"k" INT DEFAULT 10, /* i32 */
	"user_id" TEXT DEFAULT NULL, /* Option < & str > */
	"exclude" TEXT[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"item_id" TEXT,  /* String */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'popular_text_wrapper';
CREATE FUNCTION pgrec."popular"(
	"model" TEXT, /* & str */
	"k" INT, /* i32 */
	"user_id" uuid, /* Option < Uuid > */
	"exclude" uuid[] DEFAULT NULL /* :: std :: option :: Option < Vec < Option < Uuid > > > */
) RETURNS TABLE (
	"item_id" uuid,  /* Uuid */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'popular_uuid_wrapper';
CREATE FUNCTION pgrec."recommend"(
	"model" TEXT, /* Option < & str > */
	"user_id" bigint, /* Option < i64 > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"exclude_seen" bool DEFAULT true, /* Option < bool > */
	"candidates" bigint[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"exclude" bigint[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"fallback" TEXT DEFAULT NULL, /* Option < & str > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" bigint,  /* i64 */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_v3_int_wrapper';
CREATE FUNCTION pgrec."recommend"(
	"model" TEXT, /* Option < & str > */
	"user_id" TEXT, /* Option < & str > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"exclude_seen" bool DEFAULT true, /* Option < bool > */
	"candidates" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"exclude" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"fallback" TEXT DEFAULT NULL, /* Option < & str > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" TEXT,  /* String */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_v3_text_wrapper';
CREATE FUNCTION pgrec."recommend"(
	"model" TEXT, /* Option < & str > */
	"user_id" uuid, /* Option < Uuid > */
	"k" INT DEFAULT 10, /* Option < i32 > */
	"exclude_seen" bool DEFAULT true, /* Option < bool > */
	"candidates" uuid[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < Uuid > > > */
	"exclude" uuid[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < Uuid > > > */
	"fallback" TEXT DEFAULT NULL, /* Option < & str > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" uuid,  /* Uuid */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_v3_uuid_wrapper';
CREATE FUNCTION pgrec."recommend_batch"(
	"model" TEXT, /* & str */
	"user_ids" bigint[], /* Vec < Option < i64 > > */
	"k" INT DEFAULT 10, /* i32 */
	"exclude_seen" bool DEFAULT true, /* bool */
	"exclude" bigint[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"fallback" TEXT DEFAULT NULL, /* Option < & str > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"user_id" bigint,  /* i64 */
	"rank" INT,  /* i32 */
	"item_id" bigint,  /* i64 */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_batch_v3_int_wrapper';
CREATE FUNCTION pgrec."recommend_batch"(
	"model" TEXT, /* & str */
	"user_ids" TEXT[], /* Vec < Option < String > > */
	"k" INT DEFAULT 10, /* i32 */
	"exclude_seen" bool DEFAULT true, /* bool */
	"exclude" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"fallback" TEXT DEFAULT NULL, /* Option < & str > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"user_id" TEXT,  /* String */
	"rank" INT,  /* i32 */
	"item_id" TEXT,  /* String */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_batch_v3_text_wrapper';
CREATE FUNCTION pgrec."recommend_batch"(
	"model" TEXT, /* & str */
	"user_ids" uuid[], /* Vec < Option < Uuid > > */
	"k" INT DEFAULT 10, /* i32 */
	"exclude_seen" bool DEFAULT true, /* bool */
	"exclude" uuid[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < Uuid > > > */
	"fallback" TEXT DEFAULT NULL, /* Option < & str > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"user_id" uuid,  /* Uuid */
	"rank" INT,  /* i32 */
	"item_id" uuid,  /* Uuid */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_batch_v3_uuid_wrapper';
CREATE FUNCTION pgrec."recommend_for_items"(
	"model" TEXT, /* & str */
	"item_ids" bigint[], /* Vec < Option < i64 > > */
	"k" INT DEFAULT 10, /* i32 */
	"exclude" bigint[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" bigint,  /* i64 */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_for_items_v3_int_wrapper';
CREATE FUNCTION pgrec."recommend_for_items"(
	"model" TEXT, /* & str */
	"item_ids" TEXT[], /* Vec < Option < String > > */
	"k" INT DEFAULT 10, /* i32 */
	"exclude" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" TEXT,  /* String */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_for_items_v3_text_wrapper';
CREATE FUNCTION pgrec."recommend_for_items"(
	"model" TEXT, /* & str */
	"item_ids" uuid[], /* Vec < Option < Uuid > > */
	"k" INT DEFAULT 10, /* i32 */
	"exclude" uuid[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < Uuid > > > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" uuid,  /* Uuid */
	"score" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'recommend_for_items_v3_uuid_wrapper';
CREATE FUNCTION pgrec."similar_items"(
	"model" TEXT, /* & str */
	"item_id" bigint, /* i64 */
	"k" INT DEFAULT 10, /* i32 */
	"method" TEXT DEFAULT 'embedding', /* & str */
	"shrinkage" real DEFAULT NULL, /* Option < f32 > */
	"exclude" bigint[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < i64 > > > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" bigint,  /* i64 */
	"similarity" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'similar_items_v3_int_wrapper';
CREATE FUNCTION pgrec."similar_items"(
	"model" TEXT, /* & str */
	"item_id" TEXT, /* & str */
	"k" INT DEFAULT 10, /* i32 */
	"method" TEXT DEFAULT 'embedding', /* & str */
	"shrinkage" real DEFAULT NULL, /* Option < f32 > */
	"exclude" TEXT[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < String > > > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" TEXT,  /* String */
	"similarity" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'similar_items_v3_text_wrapper';
CREATE FUNCTION pgrec."similar_items"(
	"model" TEXT, /* & str */
	"item_id" uuid, /* Uuid */
	"k" INT DEFAULT 10, /* i32 */
	"method" TEXT DEFAULT 'embedding', /* & str */
	"shrinkage" real DEFAULT NULL, /* Option < f32 > */
	"exclude" uuid[] DEFAULT NULL, /* :: std :: option :: Option < Vec < Option < Uuid > > > */
	"diversity" real DEFAULT 0 /* Option < f32 > */
) RETURNS TABLE (
	"item_id" uuid,  /* Uuid */
	"similarity" real  /* f32 */
)
STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'similar_items_v3_uuid_wrapper';
CREATE FUNCTION pgrec."unhide_items"(
	"model" TEXT, /* & str */
	"item_ids" bigint[] /* Vec < Option < i64 > > */
) RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unhide_items_int_wrapper';
CREATE FUNCTION pgrec."unhide_items"(
	"model" TEXT, /* & str */
	"item_ids" TEXT[] /* Vec < Option < String > > */
) RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unhide_items_text_wrapper';
CREATE FUNCTION pgrec."unhide_items"(
	"model" TEXT, /* & str */
	"item_ids" uuid[] /* Vec < Option < Uuid > > */
) RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unhide_items_uuid_wrapper';
COMMENT ON FUNCTION pgrec.recommend(text, bigint, int, boolean, bigint[], bigint[], text, real) IS
'The k best items for a user with an integer key, best first; items are returned as bigint (the model must have integer item keys). exclude_seen skips items the user rated in training; candidates, when given, restricts the ranking to those items; exclude lists items never to return; fallback => ''popular'' gives unknown users pgrec.popular''s items; diversity (0..1) trades relevance for variety (maximal marginal relevance on the item vectors). Hidden items (pgrec.hide_items) are never returned, and k rows come back while k visible items exist.';
COMMENT ON FUNCTION pgrec.recommend(text, text, int, boolean, text[], text[], text, real) IS
'The k best items for a user (any key kind, spelled as text), best first; item keys are returned as text. candidates, exclude, fallback and diversity as for the bigint version; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.recommend(text, uuid, int, boolean, uuid[], uuid[], text, real) IS
'The k best items for a user of a model with uuid keys, best first; items are returned as uuid. candidates, exclude, fallback and diversity as for the bigint version; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.similar_items(text, uuid, int, text, real, uuid[], real) IS
'The k items most similar to the given item, for models with uuid item keys (returned as uuid); method, shrinkage, exclude and diversity as for the bigint version; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.recommend_for_items(text, uuid[], int, uuid[], real) IS
'Recommendations for an anonymous basket of uuid items, returned as uuid; exclude and diversity as for the bigint version; hidden items are never returned. Nothing is stored.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, bigint[], int, boolean, bigint[], text, real) IS
'The k best items for each of many users (integer keys) in one call: one row per (user, rank), ranks from 1. Computed as matrix products over chunks of users on the pgrec.threads pool; the same items as one recommend call per user. exclude (one list for every user), fallback and diversity as for recommend; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, text[], int, boolean, text[], text, real) IS
'The k best items for each of many users (any key kind, spelled as text) in one call: one row per (user, rank), keys as text.';
COMMENT ON FUNCTION pgrec.recommend_batch(text, uuid[], int, boolean, uuid[], text, real) IS
'The k best items for each of many users of a model with uuid keys in one call: one row per (user, rank), keys as uuid.';
COMMENT ON FUNCTION pgrec.similar_items(text, bigint, int, text, real, bigint[], real) IS
'The k items most similar to the given item (integer keys), the item itself excluded. method ''embedding'' (default): cosine of the item vectors times n / (n + shrinkage), n being the neighbour''s training interactions (shrinkage defaults to 25); ''cooccurrence'': cosine of who interacted with what (shrinkage defaults to 0). exclude lists items never to return; diversity (0..1) trades similarity for variety; hidden items are never returned.';
COMMENT ON FUNCTION pgrec.similar_items(text, text, int, text, real, text[], real) IS
'The k items most similar to the given item (any key kind, spelled as text), the item itself excluded. method ''embedding'' (default): cosine of the item vectors times n / (n + shrinkage), n being the neighbour''s training interactions (shrinkage defaults to 25); ''cooccurrence'': cosine of who interacted with what (shrinkage defaults to 0).';
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

-- pgrec.explain: which of a user's items make an item's score.
CREATE FUNCTION pgrec."explain"(
	"model" TEXT, /* & str */
	"user_id" bigint, /* i64 */
	"item_id" bigint, /* i64 */
	"k" INT DEFAULT 5 /* i32 */
) RETURNS TABLE (
	"item_id" bigint,  /* Option < i64 > */
	"contribution" real,  /* f32 */
	"score" real,  /* f32 */
	"served_score" real,  /* Option < f32 > */
	"exact" bool  /* bool */
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'explain_int_wrapper';
CREATE FUNCTION pgrec."explain"(
	"model" TEXT, /* & str */
	"user_id" TEXT, /* & str */
	"item_id" TEXT, /* & str */
	"k" INT DEFAULT 5 /* i32 */
) RETURNS TABLE (
	"item_id" TEXT,  /* Option < String > */
	"contribution" real,  /* f32 */
	"score" real,  /* f32 */
	"served_score" real,  /* Option < f32 > */
	"exact" bool  /* bool */
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'explain_text_wrapper';
CREATE FUNCTION pgrec."explain"(
	"model" TEXT, /* & str */
	"user_id" uuid, /* Uuid */
	"item_id" uuid, /* Uuid */
	"k" INT DEFAULT 5 /* i32 */
) RETURNS TABLE (
	"item_id" uuid,  /* Option < Uuid > */
	"contribution" real,  /* f32 */
	"score" real,  /* f32 */
	"served_score" real,  /* Option < f32 > */
	"exact" bool  /* bool */
)
STRICT STABLE PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'explain_uuid_wrapper';
COMMENT ON FUNCTION pgrec.explain(text, bigint, bigint, int) IS
'Which of the user''s own items make the item''s score: the user''s training rows are read again from the version''s source (with your privileges, weighed as trained), the user''s vector is solved from them in the algorithm''s closed form (exact for ials, als, ease, vbmf and mf''s fold-in; a stand-in ridge regression for bpr and two_tower, exact = false), and the k largest shares come back largest first, then a row with item_id NULL holding the rest (biases and the items not shown), so the rows add up to score; served_score is the score recommend serves.';
COMMENT ON FUNCTION pgrec.explain(text, text, text, int) IS
'pgrec.explain with keys as text.';
COMMENT ON FUNCTION pgrec.explain(text, uuid, uuid, int) IS
'pgrec.explain with uuid keys.';

-- pgrec.fold_in_items: new items without retraining.
CREATE FUNCTION pgrec."fold_in_items"(
	"model" TEXT, /* Option < & str > */
	"source" TEXT, /* Option < & str > */
	"user_col" TEXT DEFAULT 'user_id', /* Option < & str > */
	"item_col" TEXT DEFAULT 'item_id', /* Option < & str > */
	"rating_col" TEXT DEFAULT 'rating' /* Option < & str > */
) RETURNS bigint /* i64 */
VOLATILE PARALLEL UNSAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fold_in_items_wrapper';
COMMENT ON FUNCTION pgrec.fold_in_items(text, text, text, text, text) IS
'Embeds the items of a source from their interactions against the active version''s user factors (the fit that folds users in, sides swapped; mf, als, ials, bpr, vbmf), or for ncf and two_tower from the version''s recorded item_features through its item tower (the source''s items and every new item of the features), and adds them to that version (or replaces them); their users'' seen lists gain them; servable at once, IVF included. Owner only; returns the number of items folded in.';
