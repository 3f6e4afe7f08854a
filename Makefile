# Loket: the two commands are `make run` and `make test`. Everything they need is
# installed here on first use (Rust comes from rustup; Python tools go into .venv/).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
PYTHON ?= python3
MINISTACK_VENV := .venv/ministack
MINISTACK := $(MINISTACK_VENV)/bin/ministack
TOOLS_VENV := .venv/tools
CFN_LINT := $(TOOLS_VENV)/bin/cfn-lint
export SAM_CLI_TELEMETRY := 0

.PHONY: run test lint unit build deploy bench bench-mail bench-sweep catalog clean venv

venv: $(MINISTACK)

## run: the local cloud on MiniStack: build the functions, deploy infra/template.yaml, take
## mail over SMTP (127.0.0.1:2525) as SES inbound, show sent mail at http://127.0.0.1:8025/outbox.
## Options: make run RUN_ARGS="--agency gorontalo --port 4600". Ctrl-C stops everything.
RUN_ARGS ?=
run: $(MINISTACK)
	$(MINISTACK_VENV)/bin/python tools/local/loket_local.py up --exit-with-parent $(RUN_ARGS)

## catalog: load and validate the SOP catalog and agency profiles, and show what was loaded
catalog:
	$(CARGO) run --quiet -p loket-catalog

## test: format check, clippy -D warnings, and every test
test: lint unit

lint: $(CFN_LINT)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CFN_LINT) --regions ap-southeast-3 -t infra/template.yaml
	$(TOOLS_VENV)/bin/sam validate --lint --region ap-southeast-3 -t infra/template.yaml

## build tools (cargo-lambda, cfn-lint, SAM CLI), pinned, in their own venv
$(CFN_LINT): tools/python/tools.txt
	rm -rf $(TOOLS_VENV)
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/python/tools.txt
	touch $@

## build: arm64 release zips of every function (cargo-lambda; zig comes with it)
build: $(CFN_LINT)
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(abspath $(TOOLS_VENV))/bin:$$PATH" cargo-lambda lambda build --release --arm64 --output-format zip \
		$(foreach f,$(notdir $(wildcard functions/*)),-p $(f))
	@for z in target/lambda/*/bootstrap.zip; do printf '%s\t%s bytes\n' "$$z" "$$(stat -c %s "$$z")"; done

unit: $(MINISTACK)
	$(MINISTACK_VENV)/bin/python -B -m unittest discover -s tools/local -p 'test_*.py'
	$(CARGO) build --locked -p email-intake -p form-intake -p sla-check -p transitions
	LOKET_MINISTACK=$(abspath $(MINISTACK)) $(CARGO) test --workspace --locked

## the local AWS emulator (MiniStack), pinned, in its own venv
$(MINISTACK): tools/python/ministack.txt tools/python/ministack.lock.txt
	rm -rf $(MINISTACK_VENV)
	$(PYTHON) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tools/python/ministack.txt -c tools/python/ministack.lock.txt
	touch $@

## deploy: build arm64 and deploy to AWS with infra/samconfig.toml (needs AWS credentials,
## a verified SES domain, and: THREAD_SECRET=<16+ chars> PUBLIC_BASE_URL=<https://...>
## [AGENCY_ID=pangkalpinang SERVICE_ADDRESS=layanan@... ALARM_EMAIL=...]). Not run by tests.
AGENCY_ID ?= pangkalpinang
SERVICE_ADDRESS ?= layanan@kominfo.pangkalpinangkota.go.id
ALARM_EMAIL ?=
deploy: $(CFN_LINT)
	@test -n "$(THREAD_SECRET)" -a -n "$(PUBLIC_BASE_URL)" || { echo "set THREAD_SECRET and PUBLIC_BASE_URL"; exit 2; }
	rustup target add aarch64-unknown-linux-gnu
	cd infra && PATH="$(abspath $(TOOLS_VENV))/bin:$$PATH" sam build --config-file samconfig.toml
	cd infra && PATH="$(abspath $(TOOLS_VENV))/bin:$$PATH" sam deploy --config-file samconfig.toml \
		--parameter-overrides Target=aws Architecture=arm64 AgencyId=$(AGENCY_ID) \
		ServiceAddress=$(SERVICE_ADDRESS) ThreadSecret=$(THREAD_SECRET) \
		PublicBaseUrl=$(PUBLIC_BASE_URL) AlarmEmail=$(ALARM_EMAIL)

## bench: criterion benchmarks (figures go to BENCHMARKS.md)
bench:
	$(CARGO) bench -p loket-domain --bench calendar

## bench-mail: parse+classify throughput vs Python's email library; function start-up
bench-mail:
	$(CARGO) build --release -p email-intake
	$(CARGO) build --release -p loket-tests --bin bench-mail
	taskset -c 0 ./target/release/bench-mail ./target/release/email-intake
	taskset -c 0 $(PYTHON) tools/bench/py_email_baseline.py

## bench-sweep: the SLA due sweep at 100,000 open tickets, 50 late (on MiniStack)
bench-sweep: $(MINISTACK)
	$(CARGO) build --release -p loket-tests --bin bench-due-sweep
	LOKET_MINISTACK=$(abspath $(MINISTACK)) ./target/release/bench-due-sweep 100000 50

clean:
	$(CARGO) clean
	rm -rf .venv
