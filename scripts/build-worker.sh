#!/usr/bin/env bash
# Builds the worker bundle into build/ (release: LTO, wasm-opt). Used by `make build` and by
# wrangler's [build] command, so `wrangler dev` rebuilds on change.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/toolchain.sh
# The wasm's function names are dropped from the deployed bundle (scripts/strip-wasm-names.mjs
# keeps a named copy, build/index_bg.names.wasm); TX_KEEP_WASM_NAMES=1 keeps them in place, for
# `make profile`.
names="${TX_KEEP_WASM_NAMES:-0}"
# Up to date when the bundle is newer than every input (wrangler dev runs this at every start).
if [ -f build/index.js ] && [ -f build/index_bg.wasm ] &&
  [ "$(cat build/.wasm-names 2>/dev/null)" = "$names" ] &&
  [ -z "$(find src Cargo.toml Cargo.lock scripts/build-worker.sh -newer build/index.js -print -quit)" ]; then
  echo "[build] build/ is up to date" >&2
else
  worker-build --release >&2
  if [ "$names" != 1 ]; then
    "$NODE" scripts/strip-wasm-names.mjs build/index_bg.wasm
  fi
  echo "$names" > build/.wasm-names
fi
# The entry module (lean hot paths, then the workers-rs fetch) sits next to the bundle it imports.
cp src/entry.mjs build/entry.mjs
