#!/usr/bin/env bash
# Reading a training source through a Citus coordinator against a local table (issue 15):
# ROWS synthetic ratings (default 20,000,000) in a local table and in a distributed one (2
# workers, 32 shards, all on this machine); pgrec.train reads each (1 epoch of mf, 8 factors:
# the read dominates) and the version's metrics give the read time.
# Usage: ROWS=20000000 benches/citus_read.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dir=/var/tmp/pgrec_citus_bench
rows=${ROWS:-20000000}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
coord() { as_pg psql -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p 5441 -d pgrec_citus "$@"; }
trap 'CITUS_DIR=$dir tests/citus/cluster.sh stop' EXIT
CITUS_DIR=$dir tests/citus/cluster.sh start
users=$((rows / 145)); items=$((rows / 750))
coord >/dev/null <<SQL
SET client_min_messages = warning;
CREATE UNLOGGED TABLE big_local AS SELECT * FROM pgrec.synthetic_ratings($users, $items, $rows, seed => 3);
CREATE TABLE big_dist (LIKE big_local);
SELECT create_distributed_table('big_dist', 'user_id', shard_count => 32);
INSERT INTO big_dist SELECT * FROM big_local;
SQL
for t in big_local big_dist; do
  coord -c "SET client_min_messages = warning" -c "SELECT '$t: ' || n_interactions || ' rows read in ' || round((metrics->>'load_seconds')::numeric, 2) || ' s (' || round(n_interactions / (metrics->>'load_seconds')::numeric / 1e6, 2) || ' M rows/s), training total ' || round(train_seconds::numeric, 1) || ' s' FROM pgrec.train('r_$t', '$t', params => '{\"epochs\": 1, \"factors\": 8}')"
done
