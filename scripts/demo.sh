#!/usr/bin/env bash
# The MovieLens-100K demo: loads the data into database pgrec_demo and runs scripts/demo.sql.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/create_db.sh pgrec_demo
./scripts/psql.sh -d pgrec_demo -f scripts/demo.sql
