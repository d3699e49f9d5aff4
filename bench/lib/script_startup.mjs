// Script startup, the part of a cold start Cloudflare counts as a worker's startup time (its limit
// applies to it, and `wrangler check startup` profiles it): loading the worker's modules (for ours
// and empty-rust, compiling the wasm) and evaluating them (instantiating the wasm, running the
// top-level code), before the first request does any work.
//
// A fresh workerd per start, no storage bindings, and as main module a small wrapper that imports
// the worker's own main module only when asked (as `wrangler check startup` does). Per start:
//   loadMs      Miniflare start until workerd serves: the worker's modules handed to workerd
//               (about 1 MB of wasm for ours), read and compiled
//   evaluateMs  a request that imports the worker's main module, minus a request that does not
//               (the second of two, same process, just before): the modules' evaluation
// Workers interleaved, rotated every start; each figure minus empty-js's of the same start, then
// the median over starts, so that the machine's drift falls on both sides of each difference.
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { COMPATIBILITY_DATE, rustModules } from './cluster.mjs';
import { median } from './stats.mjs';

const STARTS = 15;

/** Each worker's modules: its main module first. */
function workerModules(paths) {
  const js = (file) => ({ modulesRoot: dirname(file), modules: [{ type: 'ESModule', path: file }] });
  return {
    'empty-js': js(paths.emptyJs),
    jose: js(paths.jose),
    'empty-rust': rustModules(paths.emptyRustBuild),
    ours: rustModules(paths.oursBuild),
  };
}

async function startOnce({ modulesRoot: root, modules }) {
  const main = `./${basename(modules[0].path)}`;
  const wrapper = `export default { async fetch(request) {
    if (new URL(request.url).pathname === '/import') await import(${JSON.stringify(main)});
    return new Response('ok');
  } };`;
  const t0 = performance.now();
  const mf = new Miniflare(convertV4MiniflareOptions({
    name: 'startup',
    compatibilityDate: COMPATIBILITY_DATE,
    modulesRoot: root,
    modules: [{ type: 'ESModule', path: join(root, '__startup_wrapper.mjs'), contents: wrapper }, ...modules],
    unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
    handleStructuredLogs: () => {},
  }));
  try {
    await mf.ready;
    const base = await mf.unsafeGetDirectURL('startup');
    const t1 = performance.now();
    const get = async (path) => {
      const res = await fetch(new URL(path, base));
      const text = await res.text();
      if (res.status !== 200) throw new Error(`script startup ${path}: ${res.status} ${text}`);
    };
    await get('/plain');
    const t2 = performance.now();
    await get('/plain');
    const t3 = performance.now();
    await get('/import');
    const t4 = performance.now();
    return { loadMs: t1 - t0, evaluateMs: t4 - t3 - (t3 - t2) };
  } finally {
    await mf.dispose();
  }
}

/**
 * { worker: { loadMs, evaluateMs, totalMs, totalMinMs, totalMaxMs, starts } } over empty-js:
 * medians of per-start differences (the total is the median of each start's load + evaluation,
 * not the sum of the two medians), and each start's own figures.
 */
export async function measureScriptStartup(paths) {
  const workers = workerModules(paths);
  const names = Object.keys(workers);
  const starts = [];
  for (let i = 0; i < STARTS; i++) {
    const order = [...names.slice(i % names.length), ...names.slice(0, i % names.length)];
    const start = {};
    for (const name of order) start[name] = await startOnce(workers[name]);
    starts.push(start);
  }
  const over = (name, key) => starts.map((s) => s[name][key] - s['empty-js'][key]);
  const out = {};
  for (const name of names) {
    const load = over(name, 'loadMs');
    const evaluate = over(name, 'evaluateMs');
    const total = load.map((l, i) => l + evaluate[i]);
    out[name] = {
      loadMs: median(load),
      evaluateMs: median(evaluate),
      totalMs: median(total),
      totalMinMs: Math.min(...total),
      totalMaxMs: Math.max(...total),
      emptyJsLoadMs: median(starts.map((s) => s['empty-js'].loadMs)),
      starts: starts.map((s) => s[name]),
    };
  }
  return out;
}
