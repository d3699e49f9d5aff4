// `make profile ENDPOINT=anonymous`: V8's CPU profile of our worker under load, the step before
// changing a hot path. Starts our worker alone (inspector on), loads one endpoint with wrk while
// the profiler samples, and prints the functions with the most self time (wasm functions by
// name) grouped into JS glue / wasm / runtime. Saves the .cpuprofile (Chrome DevTools can open it)
// under bench/results/profiles/.
//
//   node bench/profile.mjs [--endpoint floor|jwks|anonymous|refresh|exchange-rs256|introspect] [--seconds 6]
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startCluster } from './lib/cluster.mjs';
import { runWrk } from './lib/load.mjs';
import { seedOurs } from './lib/seed.mjs';
import { freePort } from '../tests/support/worker.mjs';
import { startIdp } from '../tests/support/idp.mjs';

const ROOT = join(import.meta.dirname, '..');
const { values: opts } = parseArgs({
  options: {
    endpoint: { type: 'string', default: 'anonymous' },
    seconds: { type: 'string', default: '6' },
    top: { type: 'string', default: '40' },
    build: { type: 'string', default: join(ROOT, 'build') },
  },
});

class Inspector {
  static async connect(port, worker) {
    const targets = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
    const target = targets.find((t) => t.title?.includes(worker) || t.id?.includes(worker)) ?? targets[0];
    const ws = new WebSocket(target.webSocketDebuggerUrl);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return new Inspector(ws);
  }

  constructor(ws) {
    this.ws = ws;
    this.id = 0;
    this.pending = new Map();
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(JSON.stringify(msg.error)));
      else p.resolve(msg.result);
    };
  }

  send(method, params = {}) {
    const id = ++this.id;
    this.ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }
}

function load(endpoint, ctx) {
  const form = (o) => new URLSearchParams(o).toString();
  switch (endpoint) {
    case 'floor': return { path: '/floor', load: { method: 'GET' } };
    case 'jwks': return { path: '/orgs/bench/.well-known/jwks.json', load: { method: 'GET' } };
    case 'anonymous': return { path: '/orgs/bench/sessions/anonymous', load: { method: 'POST', body: '' } };
    case 'refresh': return { path: '/orgs/bench/token', load: { method: 'POST', refreshTokensFile: ctx.refreshFile } };
    case 'exchange-rs256': return { path: '/orgs/bench/token', load: { method: 'POST', body: form({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: ctx.upstream,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt' }) } };
    case 'introspect': return { path: '/orgs/bench/introspect', load: { method: 'POST', body: form({ token: ctx.access }), bearer: ctx.operatorToken } };
    default: throw new Error(`unknown endpoint ${endpoint}`);
  }
}

/** Self time per function, from the profile's samples. */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = profile.samples.length;
  const byName = new Map();
  for (const [id, count] of counts) {
    const f = byId.get(id).callFrame;
    const kind = f.url.includes('wasm') || f.url.startsWith('wasm://') ? 'wasm' : f.url ? 'js' : 'runtime';
    const name = `${kind}  ${f.functionName || '(anonymous)'}${f.url && kind === 'js' ? ` ${f.url.split('/').pop()}:${f.lineNumber}` : ''}`;
    byName.set(name, (byName.get(name) ?? 0) + count);
  }
  const kinds = {};
  for (const [name, count] of byName) kinds[name.split(' ')[0]] = (kinds[name.split(' ')[0]] ?? 0) + count;
  return { total, rows: [...byName].sort((a, b) => b[1] - a[1]), kinds };
}

async function main() {
  const secrets = { masterKey: randomBytes(32).toString('base64url'), operatorToken: randomBytes(32).toString('base64url') };
  const idp = await startIdp({ algorithms: ['RS256', 'EdDSA'], maxAge: 86400 });
  const inspectorPort = await freePort();
  const cluster = await startCluster({ oursBuild: opts.build }, secrets, { only: ['ours'], inspectorPort });
  try {
    await seedOurs(cluster.urls.ours, secrets, idp);
    const session = async () => (await (await fetch(new URL('/orgs/bench/sessions/anonymous', cluster.urls.ours), { method: 'POST' })).json());
    const ctx = { operatorToken: secrets.operatorToken, upstream: idp.mint({ alg: 'RS256', claims: { exp: Math.floor(Date.now() / 1000) + 3600 } }) };
    ctx.access = (await session()).access_token;
    const tokens = [];
    for (let i = 0; i < 64; i++) tokens.push((await session()).refresh_token);
    ctx.refreshFile = join(ROOT, 'bench', '.build', 'profile-refresh.txt');
    mkdirSync(join(ROOT, 'bench', '.build'), { recursive: true });
    writeFileSync(ctx.refreshFile, tokens.join('\n') + '\n');
    const { path, load: spec } = load(opts.endpoint, ctx);
    const url = new URL(path, cluster.urls.ours).href;
    await runWrk({ url, load: spec, connections: 8, seconds: 2, pid: cluster.pid });
    const inspector = await Inspector.connect(inspectorPort, 'ours');
    await inspector.send('Profiler.enable');
    await inspector.send('Profiler.setSamplingInterval', { interval: 100 });
    await inspector.send('Profiler.start');
    if (spec.refreshTokensFile) {
      tokens.length = 0;
      for (let i = 0; i < 64; i++) tokens.push((await session()).refresh_token);
      writeFileSync(ctx.refreshFile, tokens.join('\n') + '\n');
    }
    const run = await runWrk({ url, load: spec, connections: 8, seconds: Number(opts.seconds), pid: cluster.pid });
    const { profile } = await inspector.send('Profiler.stop');
    const dir = join(ROOT, 'bench', 'results', 'profiles');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${opts.endpoint}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const { total, rows, kinds } = selfTimes(profile);
    console.log(`${opts.endpoint}: ${run.rps.toFixed(0)} req/s (profiler on), ${(run.cpuMsPerRequest * 1000).toFixed(0)} µs CPU/request, ${total} samples`);
    console.log('by kind:', Object.entries(kinds).map(([k, c]) => `${k} ${((100 * c) / total).toFixed(1)}%`).join(', '));
    for (const [name, count] of rows.slice(0, Number(opts.top))) {
      console.log(`${((100 * count) / total).toFixed(1).padStart(5)}%  ${name}`);
    }
    console.log(`profile: ${file}`);
  } finally {
    await cluster.dispose();
    await idp.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
