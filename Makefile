# Loket: the two commands are `make run` and `make test`. Everything they need is
# installed here on first use (Rust comes from rustup; Python tools go into .venv/).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
PYTHON ?= python3
MINISTACK_VENV := .venv/ministack
MINISTACK := $(MINISTACK_VENV)/bin/ministack

.PHONY: run test lint unit bench bench-sweep catalog clean venv

venv: $(MINISTACK)

## run: load and validate the SOP catalog and agency profiles, and show what was loaded
run: catalog

catalog:
	$(CARGO) run --quiet -p loket-catalog

## test: format check, clippy -D warnings, and every test
test: lint unit

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: $(MINISTACK)
	LOKET_MINISTACK=$(abspath $(MINISTACK)) $(CARGO) test --workspace --locked

## the local AWS emulator (MiniStack), pinned, in its own venv
$(MINISTACK): tools/python/ministack.txt tools/python/ministack.lock.txt
	rm -rf $(MINISTACK_VENV)
	$(PYTHON) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tools/python/ministack.txt -c tools/python/ministack.lock.txt
	touch $@

## bench: criterion benchmarks (figures go to BENCHMARKS.md)
bench:
	$(CARGO) bench -p loket-domain --bench calendar

## bench-sweep: the SLA due sweep at 100,000 open tickets, 50 late (on MiniStack)
bench-sweep: $(MINISTACK)
	$(CARGO) build --release -p loket-tests --bin bench-due-sweep
	LOKET_MINISTACK=$(abspath $(MINISTACK)) ./target/release/bench-due-sweep 100000 50

clean:
	$(CARGO) clean
	rm -rf .venv
