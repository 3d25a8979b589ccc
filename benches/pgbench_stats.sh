# Sourced by the load benchmarks (serving_load.sh, hnsw_load.sh): one pgbench run and its
# figures from the per-transaction log.
#   pgbench_stats DIR DB SCRIPT CLIENTS SECONDS PGOPTIONS   -> prints "qps mean_ms p50_ms p99_ms"
# Runs as postgres in DIR (which must be writable by it), against the main cluster's socket.
pgbench_stats() {
  local dir=$1 db=$2 script=$3 c=$4 secs=$5 opts=$6 qps mean p50 p99
  local bin
  bin=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
  rm -f "$dir"/log*
  (cd "$dir" && runuser -u postgres -- env PGOPTIONS="$opts" "$bin/pgbench" -n -c "$c" -j $(( c < 2 ? 1 : 2 )) -T "$secs" \
    -f "$script" -l --log-prefix="$dir/log" -h /var/run/postgresql "$db" > "$dir/out" 2>&1) || { cat "$dir/out" >&2; return 1; }
  qps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$dir/out")
  # per-transaction log: field 3 is the latency in microseconds
  read -r mean p50 p99 < <(cat "$dir"/log* | awk '{print $3}' | sort -n | awk '{a[NR]=$1; s+=$1} END {printf "%.2f %.2f %.2f\n", s/NR/1000, a[int(NR*0.5)+1]/1000, a[int(NR*0.99)]/1000}')
  echo "$qps $mean $p50 $p99"
}
