#!/usr/bin/env bash
# `make test`: everything, in order of cost. Installs its tools first (scripts/toolchain.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/toolchain.sh
step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy (native and wasm32), warnings are errors"
cargo clippy --all-targets -- -D warnings
cargo clippy --lib --target wasm32-unknown-unknown -- -D warnings
step "unit tests (native)"
cargo test
step "build the worker and the tx CLI"
bash scripts/build-worker.sh
cargo build --quiet --bin tx
step "integration and smoke tests (built worker in workerd)"
"$NODE" --test --test-concurrency=1 "tests/*.test.mjs"
