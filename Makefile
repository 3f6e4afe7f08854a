# Loket: the two commands are `make run` and `make test`. Everything they need is
# installed here on first use (Rust comes from rustup; Python tools go into .venv/).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo

.PHONY: run test lint unit bench catalog clean

## run: load and validate the SOP catalog and agency profiles, and show what was loaded
run: catalog

catalog:
	$(CARGO) run --quiet -p loket-catalog

## test: format check, clippy -D warnings, and every test
test: lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked

## bench: criterion benchmarks (figures go to BENCHMARKS.md)
bench:
	$(CARGO) bench -p loket-domain --bench calendar

clean:
	$(CARGO) clean
	rm -rf .venv
