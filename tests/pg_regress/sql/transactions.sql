-- Training is transactional: a rolled-back or failed training leaves nothing behind and the
-- previous version active.
SET client_min_messages = warning;
BEGIN;
SELECT model, version FROM pgrec.train('tx', 'tiny', params => '{"factors": 4, "epochs": 2}');
SELECT count(*) FROM pgrec.models WHERE model = 'tx';
ROLLBACK;
SELECT count(*) FROM pgrec.models WHERE model = 'tx';
SELECT * FROM pgrec.recommend('tx', 1);
\echo :LAST_ERROR_SQLSTATE
-- a good version, then a failing retrain (duplicate rows)
SELECT model, version FROM pgrec.train('tx', 'tiny', params => '{"factors": 4, "epochs": 2}');
SELECT array_agg(item_id) AS before FROM pgrec.recommend('tx', 1) \gset
SELECT * FROM pgrec.train('tx', 'SELECT * FROM tiny UNION ALL SELECT * FROM tiny WHERE user_id = 1 AND item_id = 1');
\echo :LAST_ERROR_SQLSTATE
SELECT version, active FROM pgrec.models WHERE model = 'tx' ORDER BY version;
SELECT array_agg(item_id) = :'before' AS unchanged FROM pgrec.recommend('tx', 1);
-- a retrain that fails after training (the transaction aborts later) is rolled back too
BEGIN;
SELECT model, version FROM pgrec.train('tx', 'tiny', params => '{"factors": 4, "epochs": 2, "seed": 9}');
SELECT 1 / 0;
ROLLBACK;
SELECT version, active FROM pgrec.models WHERE model = 'tx' ORDER BY version;
SELECT count(*) AS orphans FROM pgrec.item_factors f WHERE NOT EXISTS (SELECT 1 FROM pgrec.model_versions v WHERE v.id = f.version_id);
SELECT pgrec.drop_model('tx');
