#!/usr/bin/env bash
# Builds the worker bundle into build/ (release: LTO, wasm-opt). Used by `make build` and by
# wrangler's [build] command, so `wrangler dev` rebuilds on change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/toolchain.sh
worker-build --release >&2
