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

.PHONY: fuzz test-long run test lint unit browser-deps build deploy dead-letters bench bench-render bench-calendar bench-mail bench-sweep bench-form \
	bench-lifecycle bench-load bench-zips catalog clean venv

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
	$(TOOLS_VENV)/bin/openapi-spec-validator functions/form-intake/openapi.yaml

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

## Debian's chromium and chromium-driver for the browser tests (tests/tests/browser.rs):
## found, or installed with apt-get; without them make test stops and says so.
CHROMIUM ?= /usr/bin/chromium
CHROMEDRIVER ?= /usr/bin/chromedriver
browser-deps:
	@if [ -x "$(CHROMIUM)" ] && [ -x "$(CHROMEDRIVER)" ]; then exit 0; fi; \
	echo "installing Debian's chromium and chromium-driver for the browser tests"; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	{ $$SUDO apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || \
	  { $$SUDO apt-get update >/dev/null 2>&1 && \
	    $$SUDO apt-get install -y --no-install-recommends chromium chromium-driver >/dev/null; }; } || \
	{ echo "make test needs Debian's chromium and chromium-driver: apt-get install chromium chromium-driver" \
	       "(or set CHROMIUM and CHROMEDRIVER to where they are)"; exit 1; }

unit: $(MINISTACK) browser-deps
	$(MINISTACK_VENV)/bin/python -B -m unittest discover -s tools/local -p 'test_*.py'
	$(MINISTACK_VENV)/bin/python -B -m unittest discover -s tools/ops -p 'test_*.py'
	# One build of every binary and test: the local-stack tests run the functions' debug
	# binaries and the load run its driver; built apart, each would get its own feature set
	# and so its own copy of every dependency.
	$(CARGO) build --locked --workspace --bins --tests
	LOKET_MINISTACK=$(abspath $(MINISTACK)) LOKET_CHROMIUM=$(CHROMIUM) LOKET_CHROMEDRIVER=$(CHROMEDRIVER) \
		$(CARGO) test --workspace --locked
	./target/debug/load-local --emails 1000 --forms 200 --binaries target/debug --timeout 600

## the local AWS emulator (MiniStack), pinned, in its own venv
$(MINISTACK): tools/python/ministack.txt tools/python/ministack.lock.txt
	rm -rf $(MINISTACK_VENV)
	$(PYTHON) -m venv $(MINISTACK_VENV)
	$(MINISTACK_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tools/python/ministack.txt -c tools/python/ministack.lock.txt
	touch $@

## deploy: build arm64 and deploy to AWS with infra/samconfig.toml (needs AWS credentials,
## a verified SES domain, and: PUBLIC_BASE_URL=<https://...> [AGENCY_ID=pangkalpinang
## SERVICE_ADDRESS=layanan@... ALARM_EMAIL=...]). The signing key is generated in Secrets
## Manager at the first deploy. Not run by tests.
AGENCY_ID ?= pangkalpinang
SERVICE_ADDRESS ?= layanan@kominfo.pangkalpinangkota.go.id
ALARM_EMAIL ?=
deploy: $(CFN_LINT)
	@test -n "$(PUBLIC_BASE_URL)" || { echo "set PUBLIC_BASE_URL"; exit 2; }
	rustup target add aarch64-unknown-linux-gnu
	cd infra && PATH="$(abspath $(TOOLS_VENV))/bin:$$PATH" sam build --config-file samconfig.toml
	cd infra && PATH="$(abspath $(TOOLS_VENV))/bin:$$PATH" sam deploy --config-file samconfig.toml \
		--parameter-overrides Target=aws Architecture=arm64 AgencyId=$(AGENCY_ID) \
		ServiceAddress=$(SERVICE_ADDRESS) \
		PublicBaseUrl=$(PUBLIC_BASE_URL) AlarmEmail=$(ALARM_EMAIL)

## dead-letters: what failed in a deployed stack's dead-letter queue; REPLAY=1 invokes each
## failed event again after the fix and removes its record (tools/ops/dead_letters.py).
STACK ?= loket
dead-letters: $(CFN_LINT)
	$(TOOLS_VENV)/bin/python tools/ops/dead_letters.py --stack $(STACK) $(if $(REPLAY),replay,list)

## bench: every benchmark, then BENCHMARKS.md (tools/bench/render.py). Slow (~20 min: the
## arm64 build and the 100,000-ticket sweep). Each part runs alone too, then `make bench-render`.
BENCH_OUT := target/bench-results
bench:
	$(MAKE) bench-calendar
	$(MAKE) bench-mail
	$(MAKE) bench-form
	$(MAKE) bench-lifecycle
	$(MAKE) bench-load
	$(MAKE) bench-sweep
	$(MAKE) bench-zips
	$(MAKE) bench-render

bench-render:
	$(PYTHON) tools/bench/render.py

## bench-calendar: working-time arithmetic (criterion; results in target/criterion/)
bench-calendar:
	$(CARGO) bench -p loket-domain --bench calendar

## bench-mail: parse+classify throughput vs Python's email library; function start-up
bench-mail:
	mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -p email-intake
	$(CARGO) build --release -p loket-tests --bin bench-mail
	taskset -c 0 ./target/release/bench-mail ./target/release/email-intake | tee $(BENCH_OUT)/mail.txt
	taskset -c 0 $(PYTHON) tools/bench/py_email_baseline.py | tee $(BENCH_OUT)/py-baseline.txt

## bench-sweep: the SLA due sweep at 100,000 open tickets, 50 late (on MiniStack)
bench-sweep: $(MINISTACK)
	mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -p loket-tests --bin bench-due-sweep
	LOKET_MINISTACK=$(abspath $(MINISTACK)) ./target/release/bench-due-sweep 100000 50 2>&1 | tee $(BENCH_OUT)/sweep.txt

## bench-form: form POST latency, store / mailer / own-code shares (on MiniStack)
bench-form: $(MINISTACK)
	mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -p loket-tests --bin bench-form
	LOKET_MINISTACK=$(abspath $(MINISTACK)) ./target/release/bench-form 300 > $(BENCH_OUT)/form.json
	cat $(BENCH_OUT)/form.json

## bench-lifecycle: the cost model's inputs: per-ticket time, request units, mails (on MiniStack)
bench-lifecycle: $(MINISTACK)
	mkdir -p $(BENCH_OUT)
	$(CARGO) build --release -p loket-tests --bin bench-lifecycle
	LOKET_MINISTACK=$(abspath $(MINISTACK)) ./target/release/bench-lifecycle 150 30 > $(BENCH_OUT)/lifecycle.json
	cat $(BENCH_OUT)/lifecycle.json

## bench-load: 1,000 emails through the local stack, when its driver (tests/src/bin/load-local.rs) exists.
## A failed run is recorded as not measured (with its error) and the other benchmarks go on.
bench-load: $(MINISTACK)
	mkdir -p $(BENCH_OUT)
	if [ ! -f tests/src/bin/load-local.rs ]; then \
		echo '{"bench":"load","measured":false,"reason":"tests/src/bin/load-local.rs is not there yet"}' > $(BENCH_OUT)/load.json; \
	else \
		$(CARGO) build --release -p email-intake -p form-intake -p sla-check -p transitions && \
		$(CARGO) build --release -p loket-tests --bin load-local && \
		if LOKET_MINISTACK=$(abspath $(MINISTACK)) ./target/release/load-local --emails 1000 \
			> $(BENCH_OUT)/load.out 2> $(BENCH_OUT)/load.err; then \
			mv $(BENCH_OUT)/load.out $(BENCH_OUT)/load.json; \
		else \
			reason=$$(grep -m 1 '^Error' $(BENCH_OUT)/load.err | tr -d '"\\'); \
			echo "{\"bench\":\"load\",\"measured\":false,\"reason\":\"load-local failed: $$reason\"}" > $(BENCH_OUT)/load.json; \
		fi; \
	fi
	cat $(BENCH_OUT)/load.json

## bench-zips: `make build`, timed; the renderer reads target/lambda/*/bootstrap.zip
bench-zips:
	mkdir -p $(BENCH_OUT)
	start=$$(date +%s); $(MAKE) build; \
		echo "{\"bench\":\"zips\",\"seconds\":$$(( $$(date +%s) - start ))}" > $(BENCH_OUT)/zips.json

## fuzz: each cargo-fuzz target (fuzz/, its own crate) for FUZZ_SECONDS (default 300), on
## stable Rust through RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly flags); installs
## cargo-fuzz on first use. Crashes land in fuzz/artifacts/<target>/. A nightly job, not
## part of `make test`: the first build (AddressSanitizer, every AWS SDK crate) took 38 min
## on 2 shared cores (README, "Faults, load and fuzzing"). FUZZ_FLAGS go to both `cargo fuzz
## build` and `run` (e.g. `--sanitizer none`); other flags than last time rebuild everything.
FUZZ_SECONDS ?= 300
FUZZ_FLAGS ?=
FUZZ_TARGETS := email_intake form_urlencoded form_json
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked --version 0.13.2
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build $(FUZZ_FLAGS) --fuzz-dir fuzz
	for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		seeds=fuzz/seeds/$$t; if [ $$t = email_intake ] && [ -d ../shared/mail-corpus/mail ]; then seeds="$$seeds ../shared/mail-corpus/mail"; fi; \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run $(FUZZ_FLAGS) --fuzz-dir fuzz $$t fuzz/corpus/$$t $$seeds -- \
			-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 || exit 1; \
	done

## test-long: the load run of make test (1,000 emails over SMTP and 200 concurrent form
## submissions through the local stack, tests/src/bin/load-local.rs), larger:
## make test-long LOAD_EMAILS=5000 LOAD_FORMS=500. Prints one JSON line of figures.
LOAD_EMAILS ?= 5000
LOAD_FORMS ?= 500
test-long: $(MINISTACK)
	$(CARGO) build --locked -p email-intake -p form-intake -p sla-check -p transitions
	$(CARGO) build --locked -p loket-tests --bin load-local
	./target/debug/load-local --emails $(LOAD_EMAILS) --forms $(LOAD_FORMS) --binaries target/debug --timeout 1800

clean:
	$(CARGO) clean
	rm -rf .venv
