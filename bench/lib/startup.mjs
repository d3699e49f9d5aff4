// Startup: a fresh workerd (one worker each) from process start to its first response, and the
// CPU workerd spent getting there. Median of three starts per worker; the difference from the
// empty JavaScript worker is the worker's own startup cost (script and wasm compilation and
// instantiation, top-level code), the rest is workerd's.
import { performance } from 'node:perf_hooks';
import { startCluster, cpuMs } from './cluster.mjs';

const STARTS = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function measureStartup(paths, secrets) {
  const out = {};
  for (const only of ['empty-js', 'empty-rust', 'ours', 'jose']) {
    const wall = [];
    const cpu = [];
    for (let i = 0; i < STARTS; i++) {
      const t0 = performance.now();
      const cluster = await startCluster(paths, secrets, { only: [only] });
      const res = await fetch(new URL(only === 'ours' ? '/orgs/none/.well-known/jwks.json' : '/', cluster.urls[only]));
      await res.arrayBuffer();
      wall.push(performance.now() - t0);
      cpu.push(cpuMs(cluster.pid));
      await cluster.dispose();
    }
    out[only] = { wallMs: median(wall), cpuMs: median(cpu) };
  }
  return out;
}
