// Startup: a fresh workerd (one worker each) from process start to its first response, and the
// CPU workerd spent getting there. Median (and minimum) of seven starts per worker, the workers
// interleaved (rotated every start) so that drift in the machine's load falls on all of them
// alike. A start's wall time only grows with noise on a 2-core machine, so the minimum is the
// steadier figure. Ours over a floor is the median of the differences within a start.
//
// Two floors: `empty-js` (the runtime: the reference) and `bindings-js` (the empty worker
// with ours' storage bindings, reading the KV key ours' startup request reads). Under a local
// workerd, KV and Durable Objects are simulated by workers of their own that start with the
// process and with the first read; on Cloudflare they are not in the worker's process. So ours
// minus `bindings-js` is what our own script and wasm cost; ours minus `empty-js` adds the local
// storage simulation.
//
// Each start is split in two: `readyMs`, process start until workerd serves (script and wasm
// loaded), and `firstMs`, the first request (for ours, the wasm functions it reaches are compiled
// then: V8 compiles wasm lazily).
import { performance } from 'node:perf_hooks';
import { startCluster, cpuMs } from './cluster.mjs';
import { median } from './stats.mjs';

const STARTS = 7;
const WORKERS = ['empty-js', 'bindings-js', 'empty-rust', 'ours', 'jose'];
const FIRST_PATH = { ours: '/orgs/none/.well-known/jwks.json' };

export async function measureStartup(paths, secrets) {
  const runs = Object.fromEntries(WORKERS.map((w) => [w, []]));
  for (let i = 0; i < STARTS; i++) {
    const order = [...WORKERS.slice(i % WORKERS.length), ...WORKERS.slice(0, i % WORKERS.length)];
    for (const only of order) {
      const t0 = performance.now();
      const cluster = await startCluster(paths, secrets, { only: [only] });
      const t1 = performance.now();
      const res = await fetch(new URL(FIRST_PATH[only] ?? '/', cluster.urls[only]));
      await res.arrayBuffer();
      const t2 = performance.now();
      runs[only].push({ wallMs: t2 - t0, readyMs: t1 - t0, firstMs: t2 - t1, cpuMs: cpuMs(cluster.pid) });
      await cluster.dispose();
    }
  }
  const out = {};
  for (const [w, rs] of Object.entries(runs)) {
    out[w] = Object.fromEntries(['wallMs', 'readyMs', 'firstMs', 'cpuMs'].map((k) => [k, median(rs.map((r) => r[k]))]));
    out[w].minWallMs = Math.min(...rs.map((r) => r.wallMs));
    out[w].starts = rs;
    // Over each floor: the median of the differences within a start (steadier than a difference
    // of medians: a slow moment of the machine falls on both sides).
    out[w].overMs = Object.fromEntries(['empty-js', 'bindings-js'].map((floor) =>
      [floor, median(rs.map((r, i) => r.wallMs - runs[floor][i].wallMs))]));
  }
  return out;
}
