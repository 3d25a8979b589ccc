# pgrec: `make demo` runs the MovieLens demo, `make test` runs every test tier.
# Both work on a fresh Debian 12 machine as root (scripts/setup.sh installs what is missing;
# `make test` also builds pgvector and Citus, which only the tests use: `make test-deps`).
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

.PHONY: setup test-deps install data demo test lint test-core test-sql bench bench-sql fmt mutants

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

data:
	./scripts/fetch_movielens.sh

demo: install data
	./scripts/demo.sh

test: test-deps install data lint test-core test-sql

# formatting and clippy with warnings as errors, over every crate and target; module cycles
lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	# no import cycle between modules, in either crate (ARCHITECTURE.md: lower layers never
	# import higher ones)
	python3 scripts/module_cycles.py
	python3 scripts/module_cycles.py --level 2

test-core:
	cargo test --release -p pgrec-core -p pgrec-plot

test-sql: test-deps
	./scripts/run_sql_tests.sh

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
