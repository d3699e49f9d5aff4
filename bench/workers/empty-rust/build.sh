#!/usr/bin/env bash
# Builds the empty Rust worker (benchmark baseline "Rust floor") exactly like token-exchange:
# worker-build --release with the repository's toolchain (scripts/toolchain.sh), into
# bench/workers/empty-rust/build/{index.js,index_bg.wasm}. Its own target dir, so the main
# crate's target/ stays as it is. Skips the build when the output is newer than every input.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
. "$ROOT/scripts/toolchain.sh"
export CARGO_TARGET_DIR="$ROOT/target/bench-empty-rust"
cd "$HERE"
if [ -f build/index.js ] && [ -f build/index_bg.wasm ] &&
  [ -z "$(find src Cargo.toml Cargo.lock build.sh -newer build/index.js -print -quit)" ] &&
  [ -z "$(find src Cargo.toml Cargo.lock build.sh -newer build/index_bg.wasm -print -quit)" ]; then
  echo "[empty-rust] build/ is up to date" >&2
  exit 0
fi
worker-build --release >&2
# Like ours: the deployed wasm carries no name section.
"$NODE" "$ROOT/scripts/strip-wasm-names.mjs" build/index_bg.wasm
