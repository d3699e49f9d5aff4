#!/usr/bin/env bash
# Builds the worker bundle into build/ (release: LTO, wasm-opt). Used by `make build` and by
# wrangler's [build] command, so `wrangler dev` rebuilds on change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/toolchain.sh
# Up to date when the bundle is newer than every input (wrangler dev runs this at every start).
if [ -f build/index.js ] && [ -f build/index_bg.wasm ] &&
  [ -z "$(find src Cargo.toml Cargo.lock -newer build/index.js -print -quit)" ]; then
  echo "[build] build/ is up to date" >&2
else
  worker-build --release >&2
fi
# The entry module (lean hot paths, then the workers-rs fetch) sits next to the bundle it imports.
cp src/entry.mjs build/entry.mjs
