# token-exchange. Every target installs what it needs first (scripts/toolchain.sh), idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help
TOOLCHAIN := . scripts/toolchain.sh

.PHONY: help dev test build lint unit integration deploy bench profile

help:
	@echo "make dev    run the worker locally (wrangler dev on 127.0.0.1:8787, dev org seeded)"
	@echo "make test   run every test: format, lints, unit tests, build, integration, smoke"
	@echo "make build  build the worker bundle into build/"
	@echo "make bench  benchmark against the JS jose worker and the empty workers (bench/README.md)"
	@echo "make profile ENDPOINT=anonymous   V8 CPU profile of one endpoint of ours under load"
	@echo "make deploy ENV=staging|production   build and deploy to Cloudflare (see README)"

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

deploy:
	@case "$(ENV)" in staging|production) ;; *) echo "make deploy ENV=staging|production" >&2; exit 2;; esac
	@$(TOOLCHAIN) && bash scripts/build-worker.sh && "$$NODE" "$$WRANGLER" deploy --env $(ENV)

# Not part of `make test`: about 15 minutes, and its figures are meant to be read, not asserted.
bench:
	@$(TOOLCHAIN) && (command -v wrk >/dev/null || { echo "[bench] installing wrk (Debian)" >&2; \
		$$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq wrk >&2; }) \
		&& "$$NODE" bench/run.mjs $(BENCH_ARGS)

# Profiles read the wasm's function names, which the deployed build drops.
profile:
	@TX_KEEP_WASM_NAMES=1 bash scripts/build-worker.sh
	@$(TOOLCHAIN) && "$$NODE" bench/profile.mjs --endpoint $(or $(ENDPOINT),anonymous)
