#!/usr/bin/env bash
# Backup benchmark (not part of `make test`): a 20M-rating model (mf, MovieLens-20M's shape:
# 138,000 users x 27,000 items, synthetic ratings) is trained, dumped with pg_dump -Fc without
# the ratings table's rows (the model alone: catalog, factors, seen items, history) and with
# them, and restored with pg_restore into a new database; the figures are set beside training
# the model again. Then the restored model serves the same answers. Uses the main cluster
# (database pgrec_bench_backup and a restored copy, both dropped at the end).
# Usage: benches/backup.sh [n_ratings] [factors]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20000000}
factors=${2:-64}
src=pgrec_bench_backup
dst=pgrec_bench_restored
dir=$(mktemp -d /var/tmp/pgrec_backup_bench.XXXXXX)
chown postgres: "$dir" 2>/dev/null || true
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 "$@"; }
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
secs() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
trap 'rm -rf "$dir"' EXIT

psql -d postgres -c "DROP DATABASE IF EXISTS $src WITH (FORCE)" -c "DROP DATABASE IF EXISTS $dst WITH (FORCE)" \
  -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
t=$(date +%s.%N)
psql -d $src -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgrec" \
  -c "CREATE TABLE r AS SELECT * FROM pgrec.synthetic_ratings(138000, 27000, $n, 16, 0.5, 20)"
echo "generated $n ratings in $(secs "$t") s"
t=$(date +%s.%N)
psql -d $src -At -c "SET client_min_messages = warning" \
  -c "SELECT 'trained: ' || n_interactions || ' ratings, ' || round(train_seconds::numeric, 1) || ' s in pgrec.train' FROM pgrec.train('m', 'r', params => '{\"factors\": $factors}')"
train=$(secs "$t")
echo "train call: $train s (wall, with the catalog writes)"
psql -d $src -At -c "SELECT 'catalog: ' || pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c WHERE c.relnamespace = 'pgrec'::regnamespace AND c.relkind = 'r'"

t=$(date +%s.%N)
as_pg pg_dump -h /var/run/postgresql -Fc -d $src --exclude-table-data=public.r -f "$dir/model.dump"
dump=$(secs "$t")
t=$(date +%s.%N)
as_pg pg_dump -h /var/run/postgresql -Fc -d $src -f "$dir/all.dump"
dump_all=$(secs "$t")
t=$(date +%s.%N)
as_pg pg_restore -h /var/run/postgresql -d $dst --exit-on-error "$dir/model.dump"
restore=$(secs "$t")
echo "pg_dump -Fc of the model alone: $(( $(stat -c %s "$dir/model.dump") / 1048576 )) MB in $dump s; with the ratings: $(( $(stat -c %s "$dir/all.dump") / 1048576 )) MB in $dump_all s"
echo "pg_restore of the model: $restore s, against $train s to train it again"
q="SELECT md5(string_agg(r.item_id || ' ' || r.score, ',')) FROM generate_series(1, 200) u, pgrec.recommend('m', u::bigint, 10) r"
[ "$(psql -d $src -At -c "$q")" = "$(psql -d $dst -At -c "$q")" ] || { echo "the restored model answers differently"; exit 1; }
t=$(date +%s.%N)
psql -d $dst -At -c "SELECT count(*) FROM pgrec.recommend('m', 1::bigint, 10)" >/dev/null
echo "first recommend after the restore (builds the serving file): $(secs "$t") s; answers equal the source's for 200 users"
psql -d postgres -c "DROP DATABASE $src WITH (FORCE)" -c "DROP DATABASE $dst WITH (FORCE)"
