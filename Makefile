# token-exchange. Every target installs what it needs first (scripts/toolchain.sh), idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help
TOOLCHAIN := . scripts/toolchain.sh

.PHONY: help dev test build lint unit integration

help:
	@echo "make dev    run the worker locally (wrangler dev on 127.0.0.1:8787, dev org seeded)"
	@echo "make test   run every test: format, lints, unit tests, build, integration, smoke"
	@echo "make build  build the worker bundle into build/"

dev:
	@$(TOOLCHAIN) && "$$NODE" scripts/dev.mjs

build:
	@bash scripts/build-worker.sh

test:
	@bash scripts/test.sh

lint:
	@$(TOOLCHAIN) && cargo fmt --check && cargo clippy --all-targets -- -D warnings \
		&& cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings

unit:
	@cargo test

integration: build
	@$(TOOLCHAIN) && "$$NODE" --test --test-concurrency=1 "tests/*.test.mjs"
