#!/usr/bin/env bash
# Runs psql as the postgres user (PostgreSQL refuses to run as root), passing arguments through.
# The psql is the one of $PG_CONFIG's server (default Debian's PostgreSQL 15); it connects where
# PGHOST / PGPORT say (default the main cluster: /var/run/postgresql, port 5432), so the test
# tiers run against another cluster by exporting those three (tests/pg18/run.sh).
set -euo pipefail
psql="$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)/psql"
if [ "$(id -un)" = "postgres" ]; then
  exec "$psql" -X "$@"
fi
if [ "$(id -u)" -eq 0 ]; then
  # runuser keeps the environment (PGHOST, PGPORT, PGOPTIONS) as su did
  exec runuser -u postgres -- "$psql" -X "$@"
fi
exec sudo -E -u postgres "$psql" -X "$@"
