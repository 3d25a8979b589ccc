-- The contract every registered algorithm keeps (pgrec.algorithms()): keys of every kind,
-- clean errors with their SQLSTATEs, transactional training, cancellation, and the same model
-- for a seed whatever the thread count. A new algorithm gets these checks by being registered.
-- error: the tiny sources collapse some embeddings (a WARNING each), which is not what this
-- test is about
SET client_min_messages = error;
SELECT * FROM pgrec.algorithms() ORDER BY 1;

CREATE TABLE c_text AS SELECT 'u' || user_id AS user_id, 'i' || item_id AS item_id, rating FROM tiny;
CREATE TABLE c_mixed AS SELECT user_id, 'i' || item_id AS item_id, rating FROM tiny;
CREATE TABLE c_nan AS SELECT * FROM tiny UNION ALL SELECT 99, 1, 'NaN';
CREATE TABLE c_dup AS SELECT * FROM tiny UNION ALL SELECT 1, 1, 3;

-- One row per (algorithm, check): 'ok' or what went wrong.
CREATE FUNCTION contract(algo text) RETURNS TABLE (algorithm text, check_name text, result text)
LANGUAGE plpgsql AS $$
DECLARE
  -- ease is closed-form: no epochs, factors or seed
  p jsonb := CASE algo WHEN 'ease' THEN '{"regularization": 5}' ELSE '{"epochs": 2, "factors": 4, "seed": 7}' END;
  bad jsonb := CASE algo WHEN 'ease' THEN '{"regularization": -1}' ELSE '{"epochs": -1}' END;
  n bigint;
  h1 text;
  h2 text;
  state text;
  m text := 'contract_' || algo;
BEGIN
  algorithm := algo;
  -- text keys, and an unknown user or item is no rows / NULL, not an error
  check_name := 'text keys';
  PERFORM pgrec.train(m, 'c_text', algo, params => p);
  SELECT count(*) INTO n FROM pgrec.recommend(m, 'u1', 3);
  result := CASE WHEN n = 3
                  AND NOT EXISTS (SELECT 1 FROM pgrec.recommend(m, 'nobody', 3))
                  AND pgrec.predict(m, 'nobody', 'i1') IS NULL
                  AND (SELECT count(*) FROM pgrec.similar_items(m, 'i1', 2)) = 2
             THEN 'ok' ELSE 'recommend gave ' || n || ' rows' END;
  RETURN NEXT;
  PERFORM pgrec.drop_model(m);
  -- integer users with text items
  check_name := 'mixed keys';
  PERFORM pgrec.train(m, 'c_mixed', algo, params => p);
  SELECT count(*) INTO n FROM pgrec.recommend(m, '1', 3);
  result := CASE WHEN n = 3 AND pgrec.predict(m, 1, 'i2') IS NOT NULL THEN 'ok' ELSE 'recommend gave ' || n || ' rows' END;
  RETURN NEXT;
  PERFORM pgrec.drop_model(m);
  -- errors
  FOR check_name, state IN VALUES
      ('NaN rating', format('SELECT pgrec.train(%L, %L, %L, params => %L)', m, 'c_nan', algo, p)),
      ('duplicate pair', format('SELECT pgrec.train(%L, %L, %L, params => %L)', m, 'c_dup', algo, p)),
      ('empty source', format('SELECT pgrec.train(%L, %L, %L, params => %L)', m, 'SELECT * FROM tiny WHERE false', algo, p)),
      ('unknown parameter', format('SELECT pgrec.train(%L, %L, %L, params => %L)', m, 'tiny', algo, '{"no_such": 1}')),
      ('out-of-range parameter', format('SELECT pgrec.train(%L, %L, %L, params => %L)', m, 'tiny', algo, bad)),
      ('missing column', format('SELECT pgrec.train(%L, %L, %L, user_col => %L)', m, 'tiny', algo, 'nope'))
  LOOP
    BEGIN
      EXECUTE state;
      result := 'no error';
      -- implicit-feedback algorithms add repeated pairs up instead of refusing them
      IF check_name = 'duplicate pair' THEN
        SELECT CASE WHEN n_interactions = (SELECT count(DISTINCT (user_id, item_id)) FROM c_dup)
                    THEN 'added up' ELSE 'kept ' || n_interactions || ' rows' END
          INTO result FROM pgrec.models WHERE model = m;
        PERFORM pgrec.drop_model(m);
      END IF;
    EXCEPTION WHEN OTHERS THEN
      result := SQLSTATE;
    END;
    RETURN NEXT;
  END LOOP;
  -- a failed training writes nothing: no model, and a failed retrain keeps the old version
  check_name := 'failed training leaves nothing';
  result := CASE WHEN NOT EXISTS (SELECT 1 FROM pgrec.model_owners WHERE model = m) THEN 'ok' ELSE 'left a model' END;
  RETURN NEXT;
  check_name := 'failed retrain keeps the active version';
  PERFORM pgrec.train(m, 'tiny', algo, params => p);
  BEGIN
    PERFORM pgrec.train(m, 'c_nan', algo, params => p);
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  SELECT count(*) INTO n FROM pgrec.models WHERE model = m AND active AND version = 1;
  result := CASE WHEN n = 1 AND (SELECT count(*) FROM pgrec.models WHERE model = m) = 1 THEN 'ok' ELSE 'versions changed' END;
  RETURN NEXT;
  -- the same seed gives the same model with 1 and 2 threads
  check_name := 'same model for 1 and 2 threads';
  PERFORM pgrec.train(m || '_t1', 'tiny', algo, params => p || '{"threads": 1}');
  PERFORM pgrec.train(m || '_t2', 'tiny', algo, params => p || '{"threads": 2}');
  SELECT md5(string_agg(bias || ':' || embedding::text, '|' ORDER BY user_id)) INTO h1 FROM pgrec.user_embeddings(m || '_t1');
  SELECT md5(string_agg(bias || ':' || embedding::text, '|' ORDER BY user_id)) INTO h2 FROM pgrec.user_embeddings(m || '_t2');
  result := CASE WHEN h1 = h2 THEN 'ok' ELSE 'models differ' END;
  RETURN NEXT;
  PERFORM pgrec.drop_model(m || '_t1');
  PERFORM pgrec.drop_model(m || '_t2');
  PERFORM pgrec.drop_model(m);
END $$;

SELECT c.* FROM pgrec.algorithms() a, contract(a.algorithm) c WHERE a.available ORDER BY 1, 2;

-- Cancellation: statement_timeout stops a long training of every algorithm (each generated
-- statement below runs on its own, under the timeout), nothing is stored, and the backend goes
-- on working. ease is one closed-form step, long only on a large catalog (10,000 items: the
-- timeout falls inside its factorisation).
SET statement_timeout = '1s';
SELECT format('SELECT pgrec.train(%L, %L, %L, params => %L)', 'contract_cancel_' || algorithm,
              CASE algorithm WHEN 'ease' THEN 'SELECT * FROM pgrec.synthetic_ratings(2000, 10000, 200000)'
                             ELSE 'ml100k.u1_base' END,
              algorithm,
              CASE algorithm WHEN 'ease' THEN '{}' ELSE '{"epochs": 5000, "validation_fraction": 0}' END)
FROM pgrec.algorithms() WHERE available ORDER BY algorithm \gexec
RESET statement_timeout;
SELECT count(*) AS models_left FROM pgrec.model_owners WHERE model LIKE 'contract\_cancel\_%';
SELECT count(*) AS backend_still_works FROM tiny;
DROP FUNCTION contract(text);
DROP TABLE c_text, c_mixed, c_nan, c_dup;
