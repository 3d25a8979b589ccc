# A throwaway PostgreSQL 15 cluster for one test, so that running the tests never changes the
# user's own cluster (issue 28, item 5): its own initdb under a scratch directory, run as the
# postgres user, on a private Unix socket directory and its own port, no TCP. Source this file:
#   scratch_start DIR PORT <<'CONF'   # clean what a previous run left in DIR (its server too),
#   ...extra postgresql.conf lines    # initdb DIR/data, append the lines from stdin to its
#   CONF                              # postgresql.conf, start it (log in DIR/log)
#   scratch_stop DIR                  # stop DIR's server if it runs, remove DIR
#   as_pg CMD...                      # run CMD as postgres (root: runuser; others: sudo)
# Connect with: as_pg "$PG_BIN/psql" -X -h DIR -p PORT -U postgres -d postgres
# shellcheck shell=bash
PG_BIN=${PG_BIN:-$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)}

as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"
  elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"
  else sudo -u postgres "$@"; fi
}

scratch_stop() {
  local dir=$1 pid
  # A server left by an earlier run: stopped only if the pid in its lock file really is a
  # postmaster running in this data directory (after a reboot the pid may belong to another
  # process of the postgres user, e.g. the main cluster's postmaster).
  if [ -f "$dir/data/postmaster.pid" ]; then
    pid=$(as_pg head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] &&
      [ "$(as_pg readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(as_pg realpath "$dir/data" 2>/dev/null)" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
  fi
  rm -rf "$dir" 2>/dev/null || as_pg rm -rf "$dir"
}

scratch_start() {
  local dir=$1 port=$2 out
  scratch_stop "$dir"
  as_pg mkdir -m 700 -p "$dir"
  out=$(as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --locale=C --no-sync 2>&1) ||
    { echo "$out"; return 1; }
  {
    cat <<CONF
# written by tests/lib/scratch_cluster.sh
port = $port
listen_addresses = ''
unix_socket_directories = '$dir'
fsync = off
CONF
    cat
  } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null; then
    as_pg tail -n 20 "$dir/log" 2>/dev/null || true
    return 1
  fi
}
