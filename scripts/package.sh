#!/usr/bin/env bash
# make package: installable artifacts of pgrec for each tested PostgreSQL major, in target/package/
#   postgresql-15-pgrec_<version>_amd64.deb   for Debian's PostgreSQL 15 (depends on postgresql-15):
#       the library, the control file, every install and upgrade script, README and licence
#   pgrec-<version>-pg18-linux-x86_64.tar.gz  for PostgreSQL 18, laid out like the server's tree
#       (lib/pgrec.so, share/extension/..., share/doc/pgrec/...) with an install.sh that copies
#       them where a given pg_config says
# Built by `cargo pgrx package` from this source tree (release profile). PGREC_SKIP_PG18=1 builds
# the .deb only. Installed and tried by tests/package/run.sh, with no Rust toolchain on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
out=target/package
mkdir -p $out

# what every package carries besides the library and the generated install script: earlier
# releases' install scripts (a database may be at any of them) and the upgrade scripts
extension_sql() { # destination
  install -m 644 sql/releases/*.sql sql/upgrade/*.sql "$1"/
}

# 1. Debian's PostgreSQL 15: a .deb with Debian's own paths.
pg15=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
major=$("$pg15" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
name=postgresql-$major-pgrec
stage=$out/deb
rm -rf $stage
cargo pgrx package --pg-config "$pg15" --out-dir $stage >/dev/null
extension_sql "$stage$("$pg15" --sharedir)/extension"
doc=$stage/usr/share/doc/$name
install -d $doc
install -m 644 README.md $doc/README.md
install -m 644 LICENSE $doc/copyright
strip --strip-unneeded "$stage$("$pg15" --pkglibdir)/pgrec.so"
install -d $stage/DEBIAN
# the library needs glibc's 2.34 symbols (objdump -T) and libgcc_s (unwinding)
glibc=$(objdump -T "$stage$("$pg15" --pkglibdir)/pgrec.so" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
cat > $stage/DEBIAN/control <<CONTROL
Package: $name
Version: $version
Architecture: amd64
Maintainer: pgrec developers <pgrec@localhost>
Depends: postgresql-$major, libc6 (>= $glibc), libgcc-s1
Section: database
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN $stage | cut -f1)
Description: recommender models trained and served inside PostgreSQL $major
 pgrec trains matrix factorization, ALS, implicit ALS, BPR, EASE, neural
 collaborative filtering and two-tower models from a ratings or events table
 with one SQL call, keeps the embeddings in tables, and serves recommend,
 similar_items and predict from SQL. CREATE EXTENSION pgrec; no Rust toolchain
 is needed.
CONTROL
deb=$out/${name}_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build $stage "$deb" >/dev/null
echo "package: $deb ($(stat -c %s "$deb") bytes)"

# 2. PostgreSQL 18: a tarball laid out like the server's tree.
if [ "${PGREC_SKIP_PG18:-0}" = 1 ]; then
  echo "package: PostgreSQL 18 tarball SKIPPED (PGREC_SKIP_PG18=1)"
  exit 0
fi
pg18=$(./scripts/pg18.sh pg_config)
build=$out/pg18-build
tree=pgrec-$version-pg18-linux-x86_64
rm -rf $build "${out:?}/$tree"
cargo pgrx package --pg-config "$pg18" --out-dir $build >/dev/null
install -d "$out/$tree/lib" "$out/$tree/share/extension" "$out/$tree/share/doc/pgrec"
install -m 755 "$build$("$pg18" --pkglibdir)/pgrec.so" "$out/$tree/lib/"
strip --strip-unneeded "$out/$tree/lib/pgrec.so"
install -m 644 "$build$("$pg18" --sharedir)"/extension/pgrec* "$out/$tree/share/extension/"
extension_sql "$out/$tree/share/extension"
install -m 644 README.md LICENSE "$out/$tree/share/doc/pgrec/"
cat > "$out/$tree/install.sh" <<'INSTALL'
#!/bin/sh
# Installs pgrec into the PostgreSQL 18 server that pg_config describes:
#   ./install.sh /path/to/pg_config     (default: the pg_config on PATH)
set -eu
pg_config=${1:-pg_config}
case "$("$pg_config" --version)" in
  "PostgreSQL 18"*) ;;
  *) echo "this package is built for PostgreSQL 18, not $("$pg_config" --version)" >&2; exit 1 ;;
esac
here=$(dirname "$0")
install -m 755 "$here/lib/pgrec.so" "$("$pg_config" --pkglibdir)/"
install -m 644 "$here"/share/extension/* "$("$pg_config" --sharedir)/extension/"
echo "pgrec installed into $("$pg_config" --pkglibdir) and $("$pg_config" --sharedir)/extension: CREATE EXTENSION pgrec;"
INSTALL
chmod 755 "$out/$tree/install.sh"
tar -C $out --owner=0 --group=0 -czf "$out/$tree.tar.gz" "$tree"
rm -rf $build "${out:?}/$tree"
echo "package: $out/$tree.tar.gz ($(stat -c %s "$out/$tree.tar.gz") bytes)"
