// The benchmark's output: bench/results/latest.{md,svg,json} and one row of history.md.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './stats.mjs';

const WORKER_ORDER = ['ours', 'ours-b', 'jose', 'jwks-js', 'empty-js', 'empty-js-log', 'empty-rust'];
// The size and startup table also has the storage floor, a startup-only worker.
const STARTUP_ORDER = ['ours', 'jose', 'empty-js', 'bindings-js', 'empty-rust'];
const COLORS = { ours: '#d9480f', 'ours-b': '#f59f00', jose: '#1c7ed6', 'empty-js': '#868e96', 'empty-js-log': '#adb5bd', 'jwks-js': '#ced4da', 'empty-rust': '#495057' };

const sorted = (xs) => [...xs].sort((a, b) => a - b);
const spread = (xs) => ({ min: sorted(xs)[0], median: median(xs), max: sorted(xs).at(-1) });

/** Per endpoint and worker: min/median/max over rounds of each figure. */
export function summarize(result) {
  const out = {};
  for (const s of result.samples) {
    const cell = ((out[s.endpoint] ??= {})[s.worker] ??= { cpuUs: [], rps: [], p50: [], p99: [] });
    cell.cpuUs.push(s.saturated.cpuMsPerRequest * 1000);
    cell.rps.push(s.saturated.rps);
    cell.p50.push(s.single.p50);
    cell.p99.push(s.single.p99);
  }
  for (const byWorker of Object.values(out)) {
    for (const [w, cell] of Object.entries(byWorker)) {
      byWorker[w] = Object.fromEntries(Object.entries(cell).map(([k, xs]) => [k, spread(xs)]));
    }
  }
  return out;
}

/** The ratios the targets are stated in, from medians. */
export function ratios(summary) {
  const cpu = (e, w) => summary[e]?.[w]?.cpuUs.median;
  const rps = (e, w) => summary[e]?.[w]?.rps.median;
  const r = (a, b) => (a && b ? a / b : undefined);
  const out = { endpoints: {} };
  for (const e of Object.keys(summary)) {
    out.endpoints[e] = {
      cpuOursVsJose: r(cpu(e, 'ours'), cpu(e, 'jose')),
      rpsOursVsJose: r(rps(e, 'ours'), rps(e, 'jose')),
      cpuOursVsEmptyJs: r(cpu(e, 'ours'), cpu('floor', 'empty-js')),
      cpuOursVsEmptyRust: r(cpu(e, 'ours'), cpu('floor', 'empty-rust')),
    };
  }
  // Our entry answering a trivial route: the JWKS from the isolate cache through the lean entry
  // (one wasm call, the response, the log line). The 404 of an unknown path is the full
  // workers-rs path's floor.
  out.floorOursVsEmptyJs = r(cpu('jwks', 'ours'), cpu('floor', 'empty-js'));
  out.floorOursVsEmptyJsLog = r(cpu('jwks', 'ours'), cpu('floor', 'empty-js-log'));
  out.floorOursVsJwksJs = r(cpu('jwks', 'ours'), cpu('jwks', 'jwks-js'));
  out.floorJwksJsVsEmptyJs = r(cpu('jwks', 'jwks-js'), cpu('floor', 'empty-js'));
  out.fullPathFloorVsEmptyJs = r(cpu('floor', 'ours'), cpu('floor', 'empty-js'));
  out.floorEmptyRustVsEmptyJs = r(cpu('floor', 'empty-rust'), cpu('floor', 'empty-js'));
  return out;
}

function targets(rat, result) {
  const e = rat.endpoints;
  const kb = result.size.ours.wasmGzip / 1000 + result.size.ours.jsGzip / 1000;
  const st = result.startup ?? { ours: {} };
  // Within-start differences when measured (startup.mjs), else differences of the medians.
  const over = (floor) => st.ours.overMs?.[floor] ?? (st[floor] && st.ours.wallMs - st[floor].wallMs);
  const startupMs = over('empty-js') ?? NaN;
  const ownStartupMs = over('bindings-js');
  const script = result.scriptStartup?.ours;
  return [
    ['anonymous: CPU/request vs jose', '<= 0.80x', e.anonymous?.cpuOursVsJose, (v) => v <= 0.8],
    ['anonymous: requests/s vs jose', '>= 1.20x', e.anonymous?.rpsOursVsJose, (v) => v >= 1.2],
    ['refresh: CPU/request vs jose', '<= 1.00x', e.refresh?.cpuOursVsJose, (v) => v <= 1.0],
    ['exchange (RS256): CPU/request vs jose', '<= 1.00x', e['exchange-rs256']?.cpuOursVsJose, (v) => v <= 1.0],
    ['entry floor: ours answering a trivial route (JWKS, with its log line) vs empty JS', '<= 1.30x', rat.floorOursVsEmptyJs, (v) => v <= 1.3],
    ['entry floor vs empty JS writing the same log line (no target)', '–', rat.floorOursVsEmptyJsLog, () => true],
    ['entry floor vs the same JWKS answer in plain JS (jwks-js: same headers, body, log line; no target)', '–', rat.floorOursVsJwksJs, () => true],
    ['jwks-js vs empty JS: the answer and log line alone, without wasm (no target)', '–', rat.floorJwksJsVsEmptyJs, () => true],
    ['full workers-rs path floor (404) vs empty JS (no target)', '–', rat.fullPathFloorVsEmptyJs, () => true],
  ].map(([name, target, value, ok]) => [name, target, value === undefined ? 'n/a' : `${value.toFixed(2)}x`,
    value === undefined ? 'not measured' : target === '–' ? '' : ok(value) ? 'met' : 'missed'])
    .concat([
      ['bundle (wasm + JS, gzip -9)', '< 400 KB', `${kb.toFixed(0)} KB`, kb < 400 ? 'met' : 'missed'],
      ['startup as Cloudflare counts it: the modules loaded (wasm compiled) and evaluated (wasm instantiated), minus empty JS',
        '< 20 ms', script ? `${script.totalMs.toFixed(1)} ms (median of ${script.starts?.length ?? 9} starts; ${f(script.totalMinMs, 1)}–${f(script.totalMaxMs, 1)})` : 'n/a',
        script ? (script.totalMs < 20 ? 'met' : 'missed') : 'not measured'],
      ['startup: fresh workerd to first response, minus empty JS (includes the local storage simulators)', '< 20 ms',
        Number.isNaN(startupMs) ? 'n/a' : `${startupMs.toFixed(1)} ms`, Number.isNaN(startupMs) ? 'not measured' : startupMs < 20 ? 'met' : 'missed'],
      ['fresh workerd to first response, minus the storage floor (bindings-js: same bindings, same first KV read; no target)', '–',
        ownStartupMs === undefined ? 'n/a' : `${ownStartupMs.toFixed(1)} ms`, ''],
    ]);
}

const f = (x, d = 0) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));
const mmm = (s, d) => `${f(s.median, d)} (${f(s.min, d)}–${f(s.max, d)})`;

export function markdown(result, summary, rat) {
  const m = result.machine;
  const lines = [
    `# Benchmark ${result.date.slice(0, 10)}${result.label ? `: ${result.label}` : ''}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB. workerd ${m.workerd} (npm, run through Miniflare ${m.miniflare} ` +
      `with direct sockets), jose ${m.jose}, ${m.rustc}, ${m.wrk}. Commit ${m.commit}` +
      `${result.oursBuild ? ` (harness; ours from ${result.oursBuild})` : ''}.`,
    '',
    `Method: one workerd process runs all workers; ${result.settings.rounds} rounds, pairs in an order rotated each round; ` +
      `wrk -t1 -c${result.settings.connections} -d${result.settings.seconds}s per pair for requests/s and CPU, then ` +
      `-c1 -d${result.settings.singleSeconds}s for latency. CPU per request = workerd utime+stime (/proc) over the run ÷ completed requests. ` +
      'Cells: median (min–max) over rounds. Absolute figures are noisy on this 2-core machine; ratios come from the same run.',
    '',
    '## Targets',
    '',
    '| target | wanted | measured | |',
    '|---|---|---|---|',
    ...targets(rat, result).map((r) => `| ${r.join(' | ')} |`),
    '',
    '## Per endpoint',
    '',
    '| endpoint | worker | CPU µs/request | requests/s | p50 ms (1 conn) | p99 ms (1 conn) | CPU vs jose | CPU vs empty JS |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const e of result.endpoints) {
    for (const w of WORKER_ORDER.filter((x) => summary[e.name]?.[x])) {
      const c = summary[e.name][w];
      const jose = summary[e.name].jose;
      const vsJose = w.startsWith('ours') && jose ? c.cpuUs.median / jose.cpuUs.median : undefined;
      const vsJs = summary.floor?.['empty-js'] ? c.cpuUs.median / summary.floor['empty-js'].cpuUs.median : undefined;
      lines.push(`| ${e.name} | ${w} | ${mmm(c.cpuUs, 0)} | ${mmm(c.rps, 0)} | ${f(c.p50.median, 2)} | ${f(c.p99.median, 2)} | ` +
        `${vsJose ? `${vsJose.toFixed(2)}x` : ''} | ${vsJs ? `${vsJs.toFixed(2)}x` : ''} |`);
    }
  }
  if (result.oursB) {
    lines.push('', `A/B: \`ours-b\` is the build in ${result.oursB}, run beside \`ours\` in the same workerd. CPU per request, ours-b ÷ ours: ` +
      result.endpoints.filter((e) => summary[e.name]?.['ours-b'])
        .map((e) => `${e.name} ${(summary[e.name]['ours-b'].cpuUs.median / summary[e.name].ours.cpuUs.median).toFixed(3)}x`).join(', ') + '.');
  }
  lines.push('', 'Endpoints:', '', ...result.endpoints.map((e) => `- **${e.name}**: ${e.what}`), '');
  const s = result.size;
  lines.push('## Size and startup', '',
    '| worker | wasm raw | wasm gzip | JS gzip | startup wall ms | (min) | of which ready | of which first request | startup CPU ms |',
    '|---|---|---|---|---|---|---|---|---|');
  for (const w of STARTUP_ORDER) {
    const z = s[w];
    const st = result.startup?.[w];
    if (!z && !st) continue;
    lines.push(`| ${w} | ${z ? `${(z.wasmRaw / 1000).toFixed(0)} KB` : ''} | ${z ? `${(z.wasmGzip / 1000).toFixed(0)} KB` : ''} | ` +
      `${z ? `${(z.jsGzip / 1000).toFixed(1)} KB` : ''} | ${st ? f(st.wallMs, 1) : ''} | ${st?.minWallMs ? f(st.minWallMs, 1) : ''} | ` +
      `${st?.readyMs ? f(st.readyMs, 1) : ''} | ` +
      `${st?.firstMs ? f(st.firstMs, 1) : ''} | ${st ? f(st.cpuMs, 0) : ''} |`);
  }
  lines.push('', 'JS gzip: the JS modules deployed with the wasm (for ours, worker-build\'s glue and the entry module). ' +
    'Startup: a fresh workerd with that worker alone, from process start to its first response (median, and minimum, of 7 starts, ' +
    'workers interleaved), split into the time until workerd serves and the first request; and the CPU workerd used ' +
    'until then (10 ms resolution). `bindings-js` is the empty JS worker with ours\' bindings, reading the KV key ' +
    'ours\' first request reads: local KV and Durable Objects are simulated by workers that start with workerd. ' +
    'Ours over a floor (targets): the median of the differences within a start.', '');
  const ss = result.scriptStartup;
  if (ss) {
    lines.push('### Script startup (what Cloudflare counts as startup time)', '',
      '| worker | load over empty JS, ms | evaluation over empty JS, ms | total over empty JS, ms (min–max) |', '|---|---|---|---|',
      ...Object.entries(ss).filter(([w]) => w !== 'empty-js')
        .map(([w, v]) => `| ${w} | ${f(v.loadMs, 1)} | ${f(v.evaluateMs, 1)} | ${f(v.totalMs, 1)} (${f(v.totalMinMs, 1)}–${f(v.totalMaxMs, 1)}) |`),
      '', 'A fresh workerd per start, without storage bindings, whose main module imports the worker\'s main module on ' +
      'request, as `wrangler check startup` does. Load: until workerd serves (the modules handed to workerd, read, the wasm compiled; ' +
      `empty JS: ${f(ss['empty-js'].emptyJsLoadMs, 1)} ms). Evaluation: the importing request minus a plain one ` +
      '(the wasm instantiated, the top-level code run). Each column is a median over starts of the differences to empty JS ' +
      'within a start; the total is the median of each start\'s load + evaluation, not the sum of the two medians.', '');
  }
  return lines.join('\n');
}

/** Grouped bars: CPU µs per request, per endpoint, one bar per worker; floors as reference lines. */
export function svg(result, summary) {
  const names = result.endpoints.map((e) => e.name);
  const groups = names.map((n) => WORKER_ORDER.filter((w) => summary[n]?.[w]).map((w) => [w, summary[n][w].cpuUs]));
  const max = Math.max(...groups.flat().map(([, s]) => s.max)) * 1.1;
  const W = 760, H = 340, left = 56, bottom = 60, top = 40, bar = 22, gap = 26;
  const y = (v) => H - bottom - ((H - bottom - top) * v) / max;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${left}" y="18" font-size="13" font-weight="bold">CPU µs per request (median, whiskers min–max) — ${result.date.slice(0, 10)}, commit ${result.machine.commit}</text>`,
  ];
  for (let t = 0; t <= max; t += max > 400 ? 100 : 50) {
    parts.push(`<line x1="${left}" x2="${W - 10}" y1="${y(t)}" y2="${y(t)}" stroke="#eee"/>`,
      `<text x="${left - 6}" y="${y(t) + 4}" text-anchor="end">${t}</text>`);
  }
  let x = left + 10;
  groups.forEach((g, i) => {
    const start = x;
    for (const [w, s] of g) {
      parts.push(`<rect x="${x}" y="${y(s.median)}" width="${bar}" height="${y(0) - y(s.median)}" fill="${COLORS[w]}"><title>${names[i]} ${w}: ${s.median.toFixed(0)} µs</title></rect>`,
        `<line x1="${x + bar / 2}" x2="${x + bar / 2}" y1="${y(s.min)}" y2="${y(s.max)}" stroke="#000"/>`);
      x += bar + 2;
    }
    parts.push(`<text x="${(start + x) / 2}" y="${H - bottom + 16}" text-anchor="middle">${names[i]}</text>`);
    x += gap;
  });
  // The legend: the workers this run measured, in two rows of four.
  const shown = WORKER_ORDER.filter((w) => groups.some((g) => g.some(([x]) => x === w)));
  shown.forEach((w, i) => {
    const lx = left + (i % 4) * 150;
    const ly = H - 30 + Math.floor(i / 4) * 16;
    parts.push(`<rect x="${lx}" y="${ly - 10}" width="12" height="12" fill="${COLORS[w]}"/>`,
      `<text x="${lx + 16}" y="${ly}">${w}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export function writeReport(result, dir) {
  const summary = summarize(result);
  const rat = ratios(summary);
  writeFileSync(join(dir, 'latest.json'), JSON.stringify({ ...result, summary, ratios: rat }, null, 1));
  const md = markdown(result, summary, rat);
  writeFileSync(join(dir, 'latest.md'), md);
  writeFileSync(join(dir, 'latest.svg'), svg(result, summary));
  const history = join(dir, 'history.md');
  if (!existsSync(history)) {
    writeFileSync(history, '# Benchmark history\n\nOne row per `make bench` run (ratios are medians of one run; see latest.md for the method).\n\n' +
      '| date | commit | change | anonymous CPU vs jose | anonymous req/s vs jose | refresh CPU vs jose | exchange RS256 CPU vs jose | entry floor (JWKS) vs empty JS | ours anonymous µs | bundle gzip KB | startup ms |\n' +
      '|---|---|---|---|---|---|---|---|---|---|---|\n');
  }
  const e = rat.endpoints;
  const x = (v) => (v === undefined ? '–' : `${v.toFixed(2)}x`);
  const kb = (result.size.ours.wasmGzip + result.size.ours.jsGzip) / 1000;
  appendFileSync(history, `| ${result.date.slice(0, 16).replace('T', ' ')} | ${result.machine.commit} | ${result.label || '–'} | ` +
    `${x(e.anonymous?.cpuOursVsJose)} | ${x(e.anonymous?.rpsOursVsJose)} | ${x(e.refresh?.cpuOursVsJose)} | ` +
    `${x(e['exchange-rs256']?.cpuOursVsJose)} | ${x(rat.floorOursVsEmptyJs)} | ${f(summary.anonymous?.ours?.cpuUs.median)} | ` +
    `${kb.toFixed(0)} | ${result.startup ? f(result.startup.ours.overMs?.['empty-js'] ?? result.startup.ours.wallMs - result.startup['empty-js'].wallMs, 1) : '–'}` +
    `${result.scriptStartup ? ` (script ${f(result.scriptStartup.ours.totalMs, 1)})` : ''} |\n`);
  process.stdout.write(md + '\n');
}
