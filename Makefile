# pgrec: `make demo` runs the MovieLens demo, `make test` runs every test tier.
# Both work on a fresh Debian 12 machine as root (scripts/setup.sh installs what is missing;
# `make test` also builds pgvector and Citus, which only the tests use: `make test-deps`).
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

.PHONY: setup test-deps install install-pg18 data demo test lint test-core test-sql test-pg18 \
	bench bench-sql fmt mutants package test-package

# what building, installing and the demo need
setup:
	./scripts/setup.sh

# setup plus what only the tests use, from third_party/: pgvector (the interop test) and Citus
# (the Citus test; PGREC_SKIP_CITUS=1 skips it)
test-deps: setup
	./scripts/setup.sh --test

install: setup
	cargo pgrx install --release --pg-config $(PG_CONFIG)
	# earlier releases' install scripts and the upgrade scripts (ALTER EXTENSION pgrec UPDATE)
	install -m 644 sql/releases/*.sql sql/upgrade/*.sql $$($(PG_CONFIG) --sharedir)/extension/

# the same into the PostgreSQL 18 of the PG 18 tier (scripts/pg18.sh; make test-deps fetches it)
install-pg18: test-deps
	if [ "$${PGREC_SKIP_PG18:-0}" != 1 ]; then \
	  pg18=$$(./scripts/pg18.sh pg_config) && \
	  cargo pgrx install --release --pg-config $$pg18 && \
	  install -m 644 sql/releases/*.sql sql/upgrade/*.sql $$($$pg18 --sharedir)/extension/; fi

data:
	./scripts/fetch_movielens.sh

demo: install data
	./scripts/demo.sh

test: test-deps install install-pg18 data lint test-core test-sql test-pg18 test-package

# formatting and clippy with warnings as errors, over every crate and target; module cycles
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	# no import cycle between modules, in either crate (ARCHITECTURE.md: lower layers never
	# import higher ones)
	python3 scripts/module_cycles.py
	python3 scripts/module_cycles.py --level 2

# the core's tests, then its doctests, in the test-release profile (release without LTO: each
# test binary was link-time optimised on its own); the examples are compiled by clippy above.
# Both commands name the same packages, so that the second reuses the first's dependencies.
test-core:
	cargo test --profile test-release -p pgrec-core -p pgrec-plot --lib --tests
	cargo test --profile test-release -p pgrec-core -p pgrec-plot --doc

test-sql: test-deps
	./scripts/run_sql_tests.sh

# every SQL tier again against a throwaway PostgreSQL 18 cluster (tests/pg18/run.sh); the 15
# tier's backup test also pg_upgrades a cluster holding models from 15 to 18
test-pg18: install-pg18 data
	if [ "$${PGREC_SKIP_PG18:-0}" = 1 ]; then \
	  echo "PostgreSQL 18 tier SKIPPED (PGREC_SKIP_PG18=1)"; \
	else ./tests/pg18/run.sh; fi

# installable artifacts in target/package/ (scripts/package.sh): a .deb for Debian's PostgreSQL 15,
# a tarball for PostgreSQL 18 laid out like the server's tree
package: test-deps
	./scripts/package.sh

# installs the .deb for real (it replaces the library of make install, built from the same
# source) and the tarball into a copy of the PostgreSQL 18 tree; no Rust toolchain on PATH
test-package: package
	./tests/package/run.sh

bench:
	cargo bench -p pgrec-core

bench-sql: install data
	./benches/run_sql_bench.sh

fmt:
	cargo fmt --all

# Mutation testing of pgrec-core (.cargo/mutants.toml; figures and accepted survivors in
# crates/pgrec-core/MUTANTS.md). One mutant at a time, built at opt-level 1 in 256 incremental
# codegen units without LTO: a mutant rebuilds in about 6 s where opt-level 3 in 16 units took
# 62 s, and the suite (one slow test left out, see the config) runs in about 10 s. The ~3,000
# mutants of the crate take many hours on 2 cores; for a part pass e.g.
# MUTANTS_ARGS="--shard 0/12 --sharding round-robin" (a 1-in-12 sample) or
# MUTANTS_ARGS="-F metrics.rs" (one file). The report lands in target/mutants.out/.
MUTANTS_ARGS ?=
mutants:
	command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked --version 27.1.0
	CARGO_PROFILE_MUTANTS_INHERITS=release CARGO_PROFILE_MUTANTS_LTO=false \
	CARGO_PROFILE_MUTANTS_INCREMENTAL=true CARGO_PROFILE_MUTANTS_CODEGEN_UNITS=256 \
	CARGO_PROFILE_MUTANTS_DEBUG=false CARGO_PROFILE_MUTANTS_OPT_LEVEL=1 \
	cargo mutants -p pgrec-core --profile mutants -j 1 $(MUTANTS_ARGS)
