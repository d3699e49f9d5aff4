// Drops the `name` custom section (function names, about 130 KB raw and 35 KB gzipped) from a
// wasm file, in place, after saving the named file next to it as `<file>.names.wasm`.
//
// The deployed worker does not need names: they are debug information. Removing a custom section
// changes no function index, so a production stack trace's `wasm-function[N]` is read against the
// saved named copy (or a build with TX_KEEP_WASM_NAMES=1, which `make profile` uses).
//
// Usage: node scripts/strip-wasm-names.mjs build/index_bg.wasm
import { readFileSync, writeFileSync } from 'node:fs';

const MAGIC = [0x00, 0x61, 0x73, 0x6d];

function leb128(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return { value, next: at };
  }
}

/** The file without its `name` custom section; every other byte as it was. */
function withoutNames(bytes) {
  if (MAGIC.some((b, i) => bytes[i] !== b)) throw new Error('not a wasm module');
  const kept = [bytes.subarray(0, 8)];
  let at = 8;
  while (at < bytes.length) {
    const start = at;
    const id = bytes[at];
    const { value: size, next } = leb128(bytes, at + 1);
    const end = next + size;
    if (end > bytes.length) throw new Error('truncated section');
    let isName = false;
    if (id === 0) {
      const { value: len, next: nameAt } = leb128(bytes, next);
      isName = len === 4 && Buffer.from(bytes.subarray(nameAt, nameAt + 4)).toString('latin1') === 'name';
    }
    if (!isName) kept.push(bytes.subarray(start, end));
    at = end;
  }
  return Buffer.concat(kept);
}

const file = process.argv[2];
if (!file) {
  console.error('usage: strip-wasm-names.mjs <file.wasm>');
  process.exit(2);
}
const bytes = readFileSync(file);
const stripped = withoutNames(bytes);
if (!WebAssembly.validate(stripped)) throw new Error(`${file}: the stripped module does not validate`);
writeFileSync(file.replace(/\.wasm$/, '') + '.names.wasm', bytes);
writeFileSync(file, stripped);
console.error(`[build] ${file}: name section dropped, ${bytes.length} -> ${stripped.length} bytes`);
