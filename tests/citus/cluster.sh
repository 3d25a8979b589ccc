#!/usr/bin/env bash
# A local Citus cluster for tests: a coordinator and two workers on one machine, each its own
# initdb under a scratch directory, on Unix sockets only (no TCP), as the postgres user.
#   tests/citus/cluster.sh start   # initdb + start the three nodes, create database pgrec_citus
#                                  # with citus and pgrec on every node, register the workers
#   tests/citus/cluster.sh stop    # stop the nodes and delete the scratch directory
# Nodes: coordinator port 5441, workers 5442 and 5443, sockets in $CITUS_DIR
# (default /var/tmp/pgrec_citus). Citus (AGPL-3.0) is a test-time dependency only: it is built
# from third_party/ by scripts/setup.sh when this test runs, never linked into pgrec.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=$(/usr/lib/postgresql/15/bin/pg_config --bindir)
dir=${CITUS_DIR:-/var/tmp/pgrec_citus}
db=pgrec_citus
# WORKERS=1 starts the coordinator and one worker (for side-by-side benchmarks).
ports="5441 5442"
[ "${WORKERS:-2}" = 1 ] || ports="$ports 5443"
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
node() { local port=$1; shift; as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" "$@"; }

stop() {
  for p in 5441 5442 5443; do
    [ -d "$dir/n$p" ] && as_pg "$BIN/pg_ctl" -D "$dir/n$p" -m immediate stop >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}

start() {
  stop
  mkdir -p "$dir"
  chown postgres: "$dir" 2>/dev/null || true
  chmod 700 "$dir"
  for p in $ports; do
    as_pg "$BIN/initdb" -D "$dir/n$p" -A trust -U postgres >/dev/null
    as_pg tee -a "$dir/n$p/postgresql.conf" >/dev/null <<CONF
port = $p
listen_addresses = ''
unix_socket_directories = '$dir'
shared_preload_libraries = 'citus'
max_prepared_transactions = 100
max_connections = 100
shared_buffers = 128MB
fsync = off
CONF
    as_pg "$BIN/pg_ctl" -D "$dir/n$p" -l "$dir/n$p.log" -w start >/dev/null
    node "$p" -d postgres -c "CREATE DATABASE $db"
    node "$p" -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION citus"
  done
  node 5441 -d $db -c "SELECT citus_set_coordinator_host('$dir', 5441)" >/dev/null
  for p in $ports; do
    [ "$p" = 5441 ] || node 5441 -d $db -c "SELECT citus_add_node('$dir', $p)" >/dev/null
  done
  # pgrec is created on the coordinator; Citus creates it on the workers.
  node 5441 -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION pgrec"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop"; exit 2 ;;
esac
