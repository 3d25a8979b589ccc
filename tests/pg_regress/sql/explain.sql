-- pgrec.explain (API v3 "Explanations and new items", issue 30): the user's own items' shares
-- of an item's score. For ials, als, ease and mf the shares are exact for the user vector solved
-- from the user's training rows (the rows add up to `score`); `served_score` is what recommend
-- serves. Elsewhere (bpr) a stand-in, exact = false.
SET client_min_messages = warning;
DROP ROLE IF EXISTS pgrec_explain_owner;
DROP ROLE IF EXISTS pgrec_explain_reader;
DROP ROLE IF EXISTS pgrec_explain_other;
CREATE ROLE pgrec_explain_owner;
CREATE ROLE pgrec_explain_reader;
CREATE ROLE pgrec_explain_other;
CREATE TABLE explain_train AS SELECT user_id, item_id, rating FROM ml100k.split WHERE seed = 1 AND NOT is_test;
GRANT SELECT ON explain_train TO pgrec_explain_owner, pgrec_explain_reader;
SET ROLE pgrec_explain_owner;
SELECT version FROM pgrec.train('x_ials', 'explain_train', 'ials', params => '{"positive_threshold": 4, "factors": 16}');
SELECT version FROM pgrec.train('x_als', 'explain_train', 'als', params => '{"factors": 8, "epochs": 5}');
SELECT version FROM pgrec.train('x_ease', 'explain_train', 'ease', params => '{"positive_threshold": 4}');
SELECT version FROM pgrec.train('x_mf', 'explain_train', 'mf', params => '{"factors": 8, "epochs": 5}');
SELECT version FROM pgrec.train('x_bpr', 'explain_train', 'bpr', params => '{"positive_threshold": 4, "factors": 8, "epochs": 3}');
SELECT version FROM pgrec.train('x_text', 'SELECT user_id::text AS user_id, item_id::text AS item_id, rating FROM explain_train',
                                'ials', params => '{"positive_threshold": 4, "factors": 16}');
SELECT version FROM pgrec.train('x_ncf', 'explain_train', 'ncf', params => '{"factors": 4, "epochs": 1}');
SELECT pgrec.grant_model('x_ials', 'pgrec_explain_reader');
SET client_min_messages = notice;

-- Every exact model: the rows (k shares, then the rest) add up to score, for the user's top
-- recommendation; exact models' scores are close to the served one (ials, ease: the trained
-- user vector is the same closed form); shares come from the user's own rated items.
CREATE TEMP TABLE x_rows AS
SELECT m, e.*
FROM unnest(ARRAY['x_ials', 'x_als', 'x_ease', 'x_mf', 'x_bpr']) m,
     LATERAL (SELECT item_id AS top FROM pgrec.recommend(m, 7, 1)) r,
     LATERAL pgrec.explain(m, 7, r.top, 5) e;
SELECT m, count(*) AS rows, count(*) FILTER (WHERE item_id IS NULL) AS rest_rows,
       abs(sum(contribution) - min(score)) < 1e-3 * greatest(1, abs(min(score))) AS adds_up,
       bool_and(exact) AS exact,
       bool_and(item_id IS NULL OR item_id IN (SELECT item_id FROM explain_train WHERE user_id = 7)) AS own_items
FROM x_rows GROUP BY m ORDER BY m;
-- largest first
SELECT m, bool_and(ok) AS largest_first FROM (
  SELECT m, contribution >= lead(contribution) OVER (PARTITION BY m ORDER BY contribution DESC) IS NOT FALSE AS ok
  FROM x_rows WHERE item_id IS NOT NULL) t GROUP BY m ORDER BY m;
SELECT m, abs(min(score) - min(served_score)) < 0.05 AS close_to_served
FROM x_rows WHERE m IN ('x_ials', 'x_ease') GROUP BY m ORDER BY m;
-- als and mf: the rest holds the biases (mean + user bias + item bias), so it is near the
-- mean rating
SELECT m, (SELECT contribution FROM x_rows r WHERE r.m = x.m AND item_id IS NULL) BETWEEN 1 AND 6 AS rest_is_a_rating
FROM (VALUES ('x_als'), ('x_mf')) x(m);
-- k only limits the rows: all of the user's items, and their shares add up to score too
SELECT count(*) = (SELECT count(*) FROM explain_train WHERE user_id = 7 AND rating >= 4) + 1 AS every_positive,
       abs(sum(contribution) - min(score)) < 1e-3 AS adds_up
FROM pgrec.explain('x_ials', 7, (SELECT item_id FROM pgrec.recommend('x_ials', 7, 1)), 1000);
SELECT count(*) AS rows FROM pgrec.explain('x_ials', 7, 50, 2);
SELECT pgrec.explain('x_ials', 7, 50, 0);
-- text keys; an unknown item gives no rows, a user without rows only the rest
SELECT count(*) AS rows, abs(sum(contribution) - min(score)) < 1e-3 AS adds_up, pg_typeof(min(item_id)) AS key_type
FROM pgrec.explain('x_text', '7', '50');
SELECT count(*) AS rows FROM pgrec.explain('x_ials', 7, 999999);
SELECT item_id, contribution, served_score FROM pgrec.explain('x_ials', 999999, 50);
-- ncf scores pairs with a network: refused
SELECT * FROM pgrec.explain('x_ncf', 7, 50);
-- A granted role with access to the source is answered; an unrelated role is refused.
RESET ROLE;
SET ROLE pgrec_explain_reader;
SELECT count(*) > 1 AS granted_rows FROM pgrec.explain('x_ials', 7, 50);
SELECT * FROM pgrec.explain('x_als', 7, 50);
RESET ROLE;
SET ROLE pgrec_explain_other;
SELECT * FROM pgrec.explain('x_ials', 7, 50);
RESET ROLE;
SET client_min_messages = warning;
SET ROLE pgrec_explain_owner;
DROP TABLE x_rows;
SELECT pgrec.drop_model(m) FROM unnest(ARRAY['x_ials', 'x_als', 'x_ease', 'x_mf', 'x_bpr', 'x_text', 'x_ncf']) m;
RESET ROLE;
DROP TABLE explain_train;
DROP ROLE pgrec_explain_owner;
DROP ROLE pgrec_explain_reader;
DROP ROLE pgrec_explain_other;
