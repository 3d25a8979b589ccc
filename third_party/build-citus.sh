#!/usr/bin/env bash
# Builds and installs Citus 13.2.2 from third_party/citus-13.2.2.tar.gz (the upstream release,
# unmodified in the tarball) for Debian's PostgreSQL 15, for the Citus test only: Citus is
# AGPL-3.0 and pgrec neither links to it nor needs it. About 1-2 minutes on 2 cores.
# Debian's 15.20 headers export have_createdb_privilege(), which Citus 13.2.2 also defines as a
# static inline for PG 15: the build renames Citus's copy with a macro so that both compile.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
work=${CITUS_BUILD_DIR:-$here/../target/citus}
if [ -f "$($PG_CONFIG --pkglibdir)/citus.so" ] && [ "${FORCE:-0}" != 1 ]; then exit 0; fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
deps="libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev"
missing=""; for p in $deps; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
rm -rf "$work"; mkdir -p "$work"
tar -xzf "$here/citus-13.2.2.tar.gz" -C "$work"
cd "$work/citus-13.2.2"
python3 - <<'PY'
p = 'src/include/pg_version_compat.h'
s = open(p).read()
old = "static inline bool\nhave_createdb_privilege(void)"
if old in s and "citus_compat_have_createdb_privilege" not in s:
    s = s.replace(old, "#define have_createdb_privilege citus_compat_have_createdb_privilege\n" + old, 1)
    open(p, 'w').write(s)
PY
PG_CONFIG=$PG_CONFIG ./configure >/dev/null
make -j"$(nproc)" -s >/dev/null 2>&1
$SUDO make install -s >/dev/null 2>&1
echo "citus 13.2.2 installed into $($PG_CONFIG --pkglibdir)"
