# pgrec: `make demo` runs the MovieLens demo, `make test` runs every test tier.
# Both work on a fresh Debian 12 machine as root (scripts/setup.sh installs what is missing).
PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

.PHONY: setup install data demo test lint test-core test-sql bench bench-sql fmt

setup:
	./scripts/setup.sh

install: setup
	cargo pgrx install --release --pg-config $(PG_CONFIG)
	# earlier releases' install scripts and the upgrade scripts (ALTER EXTENSION pgrec UPDATE)
	install -m 644 sql/releases/*.sql sql/upgrade/*.sql $$($(PG_CONFIG) --sharedir)/extension/

data:
	./scripts/fetch_movielens.sh

demo: install data
	./scripts/demo.sh

test: install data lint test-core test-sql

# formatting and clippy with warnings as errors, over every crate and target
lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

test-core:
	cargo test --release -p pgrec-core

test-sql:
	./scripts/run_sql_tests.sh

bench:
	cargo bench -p pgrec-core

bench-sql: install data
	./benches/run_sql_bench.sh

fmt:
	cargo fmt --all
