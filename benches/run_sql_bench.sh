#!/usr/bin/env bash
# End-to-end SQL benchmarks (release build, run by `make bench-sql`):
#   1. MovieLens-100K: pgrec.train fit time next to Surprise SVD's (if scikit-surprise is
#      installed: pip install scikit-surprise), and held-out RMSE of both on u1 and 3 random splits.
#   2. Serving: recommend() and similar_items() p50/p99 latency from a warm backend (pgbench),
#      and the first call on a fresh connection (cold cache); recommend() of an ncf model, which
#      runs its network over all 1,682 items per call.
#   3. 20M synthetic ratings (ML-20M shape): load throughput, seconds per epoch at 64 factors /
#      2 threads, save time, and the backend's peak memory (VmHWM).
# Set PGREC_BENCH_BIG=0 to skip part 3 (it needs ~3 GB of disk and several minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
db=pgrec_bench
psql() { ./scripts/psql.sh "$@"; }
./scripts/create_db.sh "$db"
out=$(mktemp -d /tmp/pgrec_bench.XXXXXX); chmod 777 "$out"

echo "== 1. MovieLens-100K fit time and accuracy (default parameters)"
psql -d "$db" -q -f benches/ml100k.sql
if python3 -c "import surprise" 2>/dev/null; then
  psql -d "$db" -qAt -F $'\t' -c "SELECT seed, row_no FROM ml100k.random_split WHERE is_test" > "$out/test_rows.tsv"
  python3 benches/surprise_ml100k.py data/ml-100k/ml-100k.inter "$out/test_rows.tsv"
else
  echo "(scikit-surprise not installed: pip install scikit-surprise to add its figures)"
fi

echo "== 2. Serving latency"
psql -d "$db" -qAt -c "SELECT 'model ready: ' || version FROM pgrec.train('bench_ml', 'ml100k.u1_base')" 2>/dev/null | tail -1
psql -d "$db" -qAt -c "SELECT 'ncf model ready: ' || version FROM pgrec.train('bench_ncf', 'ml100k.u1_base', 'ncf')" 2>/dev/null | tail -1
cat > "$out/recommend.sql" <<'SQL'
\set uid random(1, 943)
SELECT * FROM pgrec.recommend('bench_ml', :uid::bigint, 10);
SQL
cat > "$out/similar.sql" <<'SQL'
\set iid random(1, 1682)
SELECT * FROM pgrec.similar_items('bench_ml', :iid::bigint, 10);
SQL
cat > "$out/recommend_ncf.sql" <<'SQL'
\set uid random(1, 943)
SELECT * FROM pgrec.recommend('bench_ncf', :uid::bigint, 10);
SQL
chmod 644 "$out"/*.sql
for f in recommend similar recommend_ncf; do
  su postgres -c "cd $out && pgbench -n -M prepared -c 1 -T 10 -l --log-prefix=$f -f $out/$f.sql $db" >/dev/null 2>&1
  cat "$out"/$f.[0-9]* 2>/dev/null | awk '{print $3}' | sort -n | awk -v name="$f" '
    {v[NR]=$1} END {printf "%-10s calls %d  p50 %.3f ms  p99 %.3f ms\n", name, NR, v[int(NR*0.5)]/1000, v[int(NR*0.99)]/1000}'
done
echo "first call on a fresh connection (loads the model into the backend's cache):"
for i in 1 2 3; do
  psql -d "$db" -q -c '\timing on' -c "SELECT count(*) FROM pgrec.recommend('bench_ml', 1, 10)" -c "SELECT count(*) FROM pgrec.recommend('bench_ml', 2, 10)" | grep Time | tr '\n' ' '; echo
done

if [ "${PGREC_BENCH_BIG:-1}" != "0" ]; then
  echo "== 3. 20M synthetic ratings (138,493 users x 26,744 items), 64 factors, 2 threads"
  psql -d "$db" -q -f benches/synthetic_20m.sql
fi
rm -rf "$out"
