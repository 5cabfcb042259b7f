# The two commands: `make demo` and `make test`. Each installs what it needs, idempotently,
# at pinned versions (scripts/install-*.sh), then runs.
SHELL := /bin/bash
ROOT  := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))

# Where the tests find the tools that `make tools` installs.
export KC_PYTHON        := $(ROOT)/.tools/venv/bin/python
export KC_SSV_SDK_DIR   := $(ROOT)/tools/ssv-sdk
export KC_CONTRACTS_DIR := $(ROOT)/contracts
export KC_NODE_BIN      := $(ROOT)/contracts/bin
export KC_PKCS11_MODULE ?= /usr/lib/softhsm/libsofthsm2.so
export KC_KRYOPTIC_MODULE ?= $(ROOT)/.tools/kryoptic/libkryoptic_pkcs11.so
export CARGO_TERM_COLOR ?= never
# A CI run builds once from a clean clone: incremental compilation only costs it time and disk.
ifeq ($(CI),true)
export CARGO_INCREMENTAL ?= 0
endif

.PHONY: all tools test test-rust test-contracts test-tokens demo bench bench-criterion fuzz fmt lint reproducible clean

all: test

tools:
	@scripts/install-apt.sh
	@scripts/install-python.sh
	@scripts/install-node.sh
	@scripts/install-rust-tools.sh
	@scripts/install-kryoptic.sh

# Lint first: a formatting slip or a clippy warning fails in seconds, before the long test run.
test: tools
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory test-rust
	@$(MAKE) --no-print-directory test-contracts

# The agent's suite runs twice: on SQLite (the workspace run) and again with its state store on
# PostgreSQL (KC_TEST_STORE=postgres: one server per test process, a fresh database per store).
test-rust:
	cargo nextest run --workspace --locked --no-fail-fast --profile ci
	KC_TEST_STORE=postgres cargo nextest run --locked --no-fail-fast --profile ci -p signer-agent
	cargo test --workspace --locked --doc

# The token matrix alone (also part of test-rust): the whole ceremony and the agent key on SoftHSM
# restricted to the YubiHSM 2 and Nitrokey HSM 2 mechanism sets, and on kryoptic.
test-tokens: tools
	cargo nextest run --locked --no-fail-fast --profile ci -p kc-hsm -p ceremony -p signer-agent \
	  -E 'test(/backends::|tokens::|agent_key_on|secp256k1_stops|recover/)'

test-contracts:
	@if [ -x scripts/test-contracts.sh ]; then scripts/test-contracts.sh; else echo "contracts: no tests yet"; fi

demo: tools
	@scripts/demo.sh

# One run: criterion floors of the primitives, the SSV SDK's single-core rate, ceremony run and
# verify at 1,000 and 10,000 validators (rates, peak RSS, ratios to the SDK); then the agent's
# 100-validator stake bench. `make bench-criterion` runs every criterion bench.
bench: tools
	scripts/bench-ceremony.sh
	cargo nextest run -p signer-agent --locked --run-ignored only -E 'test(bench)' --no-capture

bench-criterion:
	cargo bench --workspace --locked

# Coverage-guided fuzzing of every parser (libFuzzer, fuzz/) and the contracts' forge fuzz and
# invariant tests at high counts: FUZZ_SECONDS per target (default 180). docs/fuzzing.md.
fuzz: tools
	@scripts/fuzz.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

reproducible:
	@scripts/reproducible.sh

clean:
	cargo clean
	rm -rf .tools demo-out
