#!/usr/bin/env bash
# Batch serving across a local Citus cluster (issue 15): top-10 for every MovieLens-100K user as
# a LATERAL pgrec.recommend over the distributed users (pushed to the workers), with one and with
# two workers, next to the same LATERAL over a local table on the coordinator and to
# recommend_batch there. All nodes share this machine's cores: the speed-up is bounded by them.
# Each figure is the best of RUNS (5) runs in one session (the first opens the workers'
# connections and loads the model there).
# Usage: benches/citus_lateral.sh   (RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=/var/tmp/pgrec_citus_bench
runs=${RUNS:-5}
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
coord() { as_pg psql -X -q -At -v ON_ERROR_STOP=1 -h "$dir" -p 5441 -d pgrec_citus "$@"; }
trap 'CITUS_DIR=$dir tests/citus/cluster.sh stop' EXIT
best() {  # best wall time in ms of `runs` runs of the query $1, in one session (warm connections)
  local script=""
  for _ in $(seq 1 "$runs"); do script="$script$1;"$'\n'; done
  printf '\\timing on\n%s' "$script" | coord | awk '/^Time:/ {print $2}' | sort -n | head -1
}
for workers in 1 2; do
  CITUS_DIR=$dir WORKERS=$workers tests/citus/cluster.sh start
  chmod o+rx "$(pwd)" "$(pwd)/data" "$(pwd)/data/ml-100k" 2>/dev/null || true
  coord >/dev/null <<SQL
SET client_min_messages = warning;
CREATE TABLE ratings (user_id bigint, item_id bigint, rating real, ts bigint);
COPY ratings FROM '$(pwd)/data/ml-100k/ml-100k.inter' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01');
CREATE TABLE users_local AS SELECT DISTINCT user_id FROM ratings;
CREATE TABLE users_dist AS SELECT * FROM users_local;
SELECT create_distributed_table('users_dist', 'user_id', shard_count => 32);
SELECT truncate_local_data_after_distributing_table('users_dist');
SELECT version FROM pgrec.train('m', 'ratings');
SELECT pgrec.distribute_model('m');
SQL
  n=$(coord -c "SELECT count(*) FROM users_local")
  dist=$(best "SELECT count(*) FROM users_dist u, LATERAL pgrec.recommend('m', u.user_id, 10) x")
  loc=$(best "SELECT count(*) FROM users_local u, LATERAL pgrec.recommend('m', u.user_id, 10) x")
  batch=$(best "SELECT count(*) FROM pgrec.recommend_batch('m', ARRAY(SELECT user_id FROM users_local), 10)")
  echo "workers $workers: $n users x top-10: distributed LATERAL $dist ms, coordinator LATERAL $loc ms, coordinator recommend_batch $batch ms"
  CITUS_DIR=$dir tests/citus/cluster.sh stop
done
