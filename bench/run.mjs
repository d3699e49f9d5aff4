// `make bench`: token-exchange against its baselines, in one workerd, interleaved rounds.
//
//   node bench/run.mjs [--rounds 3] [--seconds 8] [--connections 8] [--single-seconds 3]
//                      [--only anonymous,refresh] [--label "what changed"] [--out bench/results]
//                      [--ours-build DIR]   (another build of ours, e.g. of an older commit: not rebuilt)
//                      [--ours-b DIR]       (a second build of ours beside the first, same run: an A/B)
//                      [--no-startup]       (skip the startup measurements: a quicker A/B)
//
// Workers (bench/README.md says how each is built and why it is a fair comparison):
//   empty-js    the runtime floor: a JavaScript worker answering 200 "ok"
//   empty-js-log  the same, writing the one JSON log line per request that ours writes
//   jwks-js     ours' JWKS answer (headers, body, log line) in plain JavaScript, without wasm
//   empty-rust  the Rust floor: a workers-rs worker answering 200 "ok", built like ours
//   ours        this repository's worker (build/), seeded with one org, signing key and provider
//   jose        JavaScript + npm `jose` doing the same work as ours per endpoint
// Every round runs every (endpoint, worker) pair once, in an order rotated from round to round:
// a saturating wrk run (fixed connections and duration) for requests/s and CPU per request, then
// a single-connection run for latency. Results: bench/results/latest.md, latest.svg, latest.json,
// and one line appended to bench/results/history.md.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster } from './lib/cluster.mjs';
import { runWrk } from './lib/load.mjs';
import { writeReport } from './lib/report.mjs';
import { measureStartup } from './lib/startup.mjs';
import { measureScriptStartup } from './lib/script_startup.mjs';
import { seedOurs, seedJose } from './lib/seed.mjs';
import { startIdp } from '../tests/support/idp.mjs';

const ROOT = join(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    connections: { type: 'string', default: '8' },
    'single-seconds': { type: 'string', default: '3' },
    only: { type: 'string' },
    label: { type: 'string', default: '' },
    out: { type: 'string', default: join(ROOT, 'bench', 'results') },
    'ours-build': { type: 'string' },
    'ours-b': { type: 'string' },
    'no-startup': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(opts.rounds);
const SECONDS = Number(opts.seconds);
const CONNECTIONS = Number(opts.connections);
const SINGLE_SECONDS = Number(opts['single-seconds']);
const log = (...a) => console.error('[bench]', ...a);

const paths = {
  emptyJs: join(ROOT, 'bench', 'workers', 'empty-js', 'worker.js'),
  emptyJsLog: join(ROOT, 'bench', 'workers', 'empty-js-log', 'worker.js'),
  jwksJs: join(ROOT, 'bench', 'workers', 'jwks-js', 'worker.js'),
  bindingsJs: join(ROOT, 'bench', 'workers', 'bindings-js', 'worker.js'),
  emptyRustBuild: join(ROOT, 'bench', 'workers', 'empty-rust', 'build'),
  oursBuild: opts['ours-build'] ?? join(ROOT, 'build'),
  oursBBuild: opts['ours-b'],
  jose: join(ROOT, 'bench', '.build', 'jose.js'),
};

function build() {
  const sh = (script) => {
    const r = spawnSync('bash', [script], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${script} failed`);
  };
  if (!opts['ours-build']) sh('scripts/build-worker.sh');
  sh('bench/workers/empty-rust/build.sh');
  mkdirSync(join(ROOT, 'bench', '.build'), { recursive: true });
  const esbuild = join(ROOT, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild');
  const r = spawnSync(esbuild, [join(ROOT, 'bench', 'workers', 'jose', 'worker.js'), '--bundle', '--format=esm',
    '--platform=browser', '--conditions=worker,browser', '--external:cloudflare:*', '--minify', `--outfile=${paths.jose}`],
  { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('bundling the jose worker failed');
}

/** The endpoints measured, each with the workers that serve it and how to load it. */
function endpoints(ctx) {
  const org = 'bench';
  const form = (o) => new URLSearchParams(o).toString();
  const exchange = (token) => form({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: token,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  });
  return [
    { name: 'floor', what: 'trivial route: empty workers answer 200 "ok"; ours answers an unknown path (404 JSON, full entry path)',
      workers: { 'empty-js': { path: '/' }, 'empty-js-log': { path: '/' }, 'empty-rust': { path: '/' }, ours: { path: '/floor', status: 404 } } },
    { name: 'jwks', what: 'GET the org JWKS (isolate cache)',
      workers: Object.fromEntries(['ours', 'jose', 'jwks-js'].map((w) => [w, { path: `/orgs/${org}/.well-known/jwks.json` }])) },
    { name: 'anonymous', what: 'POST a new anonymous session: 1 signature + 1 AES-GCM seal, no storage',
      workers: Object.fromEntries(['ours', 'jose'].map((w) => [w, { path: `/orgs/${org}/sessions/anonymous`, method: 'POST', body: '' }])) },
    { name: 'refresh', what: 'refresh-token grant: open, 1 Durable Object call, 1 signature, 1 seal',
      workers: Object.fromEntries(['ours', 'jose'].map((w) => [w, { path: `/orgs/${org}/token`, refresh: true }])) },
    { name: 'exchange-rs256', what: 'token exchange of an RS256 upstream token (JWKS cached): verify, map, sign, seal',
      workers: Object.fromEntries(['ours', 'jose'].map((w) => [w, { path: `/orgs/${org}/token`, method: 'POST', body: exchange(ctx.upstream.RS256) }])) },
    { name: 'exchange-eddsa', what: 'token exchange of an EdDSA upstream token (JWKS cached)',
      workers: Object.fromEntries(['ours', 'jose'].map((w) => [w, { path: `/orgs/${org}/token`, method: 'POST', body: exchange(ctx.upstream.EdDSA) }])) },
    { name: 'introspect', what: 'RFC 7662 with the operator token: verify + 1 Durable Object call',
      workers: Object.fromEntries(['ours', 'jose'].map((w) => [w, { path: `/orgs/${org}/introspect`, method: 'POST',
        body: form({ token: ctx.accessTokens[w] }), bearer: ctx.operatorToken }])) },
  ].filter((e) => !opts.only || opts.only.split(',').includes(e.name))
    .map((e) => (OURS_B ? { ...e, workers: { ...e.workers, [OURS_B]: oursB(e.workers.ours, ctx) } } : e));
}

/** With --ours-b, the second build of ours: named `ours-b`, loaded as ours is. */
const OURS_B = opts['ours-b'] ? 'ours-b' : undefined;
const oursB = (spec, ctx) => (spec.body?.startsWith('token=') ? { ...spec, body: new URLSearchParams({ token: ctx.accessTokens[OURS_B] }).toString() } : spec);

/** Fresh sessions for the refresh chains (one file of refresh tokens per worker and round). */
async function refreshTokens(url, count, dir, tag) {
  const tokens = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(new URL('/orgs/bench/sessions/anonymous', url), { method: 'POST' });
    if (res.status !== 200) throw new Error(`session for refresh: ${res.status} ${await res.text()}`);
    tokens.push((await res.json()).refresh_token);
  }
  const file = join(dir, `refresh-${tag}.txt`);
  writeFileSync(file, tokens.join('\n') + '\n');
  return file;
}

async function loadFor(spec, url, worker, round, tmp) {
  const load = { method: spec.method ?? 'GET', body: spec.body, bearer: spec.bearer };
  if (spec.refresh) {
    load.method = 'POST';
    load.refreshTokensFile = await refreshTokens(url, CONNECTIONS * 4, tmp, `${worker}-${round}`);
  }
  return load;
}

/** Sends one request of the load and checks it answers as expected (before measuring). */
async function verify(url, spec) {
  if (spec.refresh) return;
  const res = await fetch(url, {
    method: spec.method ?? 'GET',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(spec.bearer ? { authorization: `Bearer ${spec.bearer}` } : {}) },
    body: spec.method === 'POST' ? spec.body : undefined,
  });
  const text = await res.text();
  if (res.status !== (spec.status ?? 200)) throw new Error(`${url}: ${res.status} ${text}`);
}

function machine() {
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown';
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 0;
  const mem = Math.round(Number(readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s*(\d+)/)[1]) / 1048576);
  const version = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout?.split('\n')[0]?.trim() ?? '?';
  const pkg = (name) => JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  return {
    cpu, cores, memGiB: mem,
    workerd: pkg('workerd'), miniflare: pkg('miniflare'), jose: pkg('jose'),
    rustc: version('rustc', ['--version']), wrk: version('wrk', ['-v']).replace(/ \[.*/, ''),
    commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
  };
}

async function main() {
  mkdirSync(opts.out, { recursive: true });
  build();
  const secrets = { masterKey: randomBytes(32).toString('base64url'), operatorToken: randomBytes(32).toString('base64url') };
  const idp = await startIdp({ algorithms: ['RS256', 'EdDSA'], maxAge: 86400 });
  const cluster = await startCluster(paths, secrets);
  const tmp = mkdtempSync(join(tmpdir(), 'tx-bench-'));
  try {
    const ctx = { operatorToken: secrets.operatorToken, upstream: {}, accessTokens: {} };
    const claims = { email: 'alice@example.com', name: 'Alice', exp: Math.floor(Date.now() / 1000) + 6 * 3600 };
    for (const alg of ['RS256', 'EdDSA']) ctx.upstream[alg] = idp.mint({ alg, claims });
    await seedOurs(cluster.urls.ours, secrets, idp);
    if (OURS_B) await seedOurs(cluster.urls[OURS_B], secrets, idp);
    await seedJose(cluster.mf, cluster.urls.jose, idp);
    for (const w of ['ours', 'jose', ...(OURS_B ? [OURS_B] : [])]) {
      const res = await fetch(new URL('/orgs/bench/sessions/anonymous', cluster.urls[w]), { method: 'POST' });
      if (res.status !== 200) throw new Error(`${w}: first session ${res.status} ${await res.text()}`);
      ctx.accessTokens[w] = (await res.json()).access_token;
    }
    const list = endpoints(ctx);
    const pairs = list.flatMap((e) => Object.keys(e.workers).map((w) => ({ endpoint: e, worker: w })));
    for (const { endpoint, worker } of pairs) {
      const url = new URL(endpoint.workers[worker].path, cluster.urls[worker]).href;
      await verify(url, endpoint.workers[worker]);
      // Warm-up: JIT, isolate caches, upstream JWKS, Durable Objects created.
      const warm = await loadFor(endpoint.workers[worker], cluster.urls[worker], worker, 'warm', tmp);
      await runWrk({ url, load: warm, connections: CONNECTIONS, seconds: 1, pid: cluster.pid });
    }
    const samples = [];
    for (let round = 0; round < ROUNDS; round++) {
      const shift = (round * 5) % pairs.length;
      const order = round % 2 ? [...pairs.slice(shift), ...pairs.slice(0, shift)].reverse() : [...pairs.slice(shift), ...pairs.slice(0, shift)];
      for (const { endpoint, worker } of order) {
        const spec = endpoint.workers[worker];
        const url = new URL(spec.path, cluster.urls[worker]).href;
        const saturated = await runWrk({ url, load: await loadFor(spec, cluster.urls[worker], worker, round, tmp),
          connections: CONNECTIONS, seconds: SECONDS, pid: cluster.pid });
        const single = await runWrk({ url, load: await loadFor(spec, cluster.urls[worker], worker, `${round}-1`, tmp),
          connections: 1, seconds: SINGLE_SECONDS, pid: cluster.pid });
        const expectedNon2xx = (spec.status ?? 200) >= 300;
        const failures = saturated.socketErrors + single.socketErrors + (expectedNon2xx ? 0 : saturated.non2xx + single.non2xx);
        if (failures) throw new Error(`${endpoint.name}/${worker}: ${failures} failed requests`);
        samples.push({ round, endpoint: endpoint.name, worker, saturated, single });
        log(`round ${round + 1}/${ROUNDS} ${endpoint.name.padEnd(15)} ${worker.padEnd(10)} ` +
          `${saturated.rps.toFixed(0).padStart(6)} req/s  ${(saturated.cpuMsPerRequest * 1000).toFixed(0).padStart(4)} us CPU/req  ` +
          `p50 ${single.p50.toFixed(2)} ms  p99 ${single.p99.toFixed(2)} ms`);
      }
    }
    await cluster.dispose();
    const startup = opts['no-startup'] ? undefined : await measureStartup(paths, secrets);
    const scriptStartup = opts['no-startup'] ? undefined : await measureScriptStartup(paths);
    const result = {
      date: new Date().toISOString(), label: opts.label, machine: machine(), oursBuild: opts['ours-build'], oursB: opts['ours-b'],
      settings: { rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, singleSeconds: SINGLE_SECONDS, threads: 1 },
      endpoints: list.map((e) => ({ name: e.name, what: e.what, workers: Object.keys(e.workers) })),
      samples, startup, scriptStartup, size: wasmSize(),
    };
    writeReport(result, opts.out);
  } finally {
    await cluster.dispose().catch(() => {});
    await idp.stop();
  }
}

/** Raw and gzip -9 sizes of the deployable wasm and its JS glue. */
function wasmSize() {
  const gz = (file) => Number(spawnSync('bash', ['-c', `gzip -9c '${file}' | wc -c`], { encoding: 'utf8' }).stdout.trim());
  const raw = (file) => readFileSync(file).length;
  const of = (dir) => {
    const wasm = join(dir, 'index_bg.wasm');
    // The JS modules deployed with it: worker-build's glue, and ours' entry module.
    const js = ['index.js', 'entry.mjs'].map((f) => join(dir, f)).filter((f) => existsSync(f));
    const sum = (f) => js.reduce((n, file) => n + f(file), 0);
    return { wasmRaw: raw(wasm), wasmGzip: gz(wasm), jsRaw: sum(raw), jsGzip: sum(gz) };
  };
  return { ours: of(paths.oursBuild), 'empty-rust': of(paths.emptyRustBuild) };
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
