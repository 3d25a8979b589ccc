#!/usr/bin/env bash
# Runs docs/for_applications.py (the README's "For applications" walk) in a scratch database,
# as an application role that logs in with a password over TCP, the way an application does.
# Needs the main cluster running with pgrec installed, and psycopg (pip install "psycopg[binary]").
set -euo pipefail
cd "$(dirname "$0")/.."
psql() { ./scripts/psql.sh -X -q -v ON_ERROR_STOP=1 "$@"; }
psql -d postgres -c "DROP DATABASE IF EXISTS pgrec_shop WITH (FORCE)" -c "DROP ROLE IF EXISTS shop_app" \
  -c "CREATE ROLE shop_app LOGIN PASSWORD 'shop'" -c "CREATE DATABASE pgrec_shop OWNER shop_app"
psql -d pgrec_shop -c "CREATE EXTENSION pgrec"
python3 docs/for_applications.py
psql -d postgres -c "DROP DATABASE pgrec_shop WITH (FORCE)" -c "DROP ROLE shop_app"
