#!/usr/bin/env bash
# (Re)creates database $1 with the pgrec extension and MovieLens-100K loaded (schema ml100k).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1
./scripts/fetch_movielens.sh
./scripts/psql.sh -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
./scripts/psql.sh -q -d "$db" -v ON_ERROR_STOP=1 -c "CREATE EXTENSION pgrec"
./scripts/psql.sh -q -d "$db" -v ON_ERROR_STOP=1 -v datadir="$(pwd)/data/ml-100k" -f scripts/load_movielens.sql >/dev/null
