// Runs the built worker (build/index.js + its wasm) in workerd through `wrangler dev`, with KV
// simulated and persisted in a directory of the test's choosing, and talks to it over real HTTP on
// 127.0.0.1. Each worker gets its own generated wrangler config (the repository's, with absolute
// paths and no [build] step: `make test` has built already) and its own .dev.vars with test secrets.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, importJWK } from 'jose';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

export const randomSecret = () => randomBytes(32).toString('base64url');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The repository's wrangler.toml with absolute paths and without the [build] section. */
function testConfig() {
  const lines = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8').split('\n');
  const out = [];
  let inBuild = false;
  for (const line of lines) {
    if (/^\[/.test(line)) inBuild = line.trim() === '[build]';
    if (inBuild) continue;
    out.push(
      line
        .replace(/^main = "(.*)"/, (_, p) => `main = "${join(ROOT, p)}"`)
        .replace(/^directory = "(.*)"/, (_, p) => `directory = "${join(ROOT, p)}"`),
    );
  }
  return out.join('\n');
}

async function waitUntilServing(url, child, output) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output.join('')}`);
    try {
      await fetch(`${url}/orgs/x/.well-known/jwks.json`);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`wrangler dev did not serve within 60 s:\n${output.join('')}`);
}

/**
 * Starts the worker. Options: masterKey, operatorToken (secrets; `null` leaves one unset),
 * persistDir (KV state directory, so a test can restart the worker on the same data), devMode
 * (sets DEV_MODE=true: development conveniences such as a simulated clock for purges), env (a
 * wrangler environment, e.g. `production`), logLevel (wrangler's; `log` shows the worker's logs).
 */
export async function startWorker(opts = {}) {
  const masterKey = opts.masterKey === undefined ? randomSecret() : opts.masterKey;
  const operatorToken = opts.operatorToken === undefined ? randomSecret() : opts.operatorToken;
  const persistDir = opts.persistDir ?? mkdtempSync(join(tmpdir(), 'tx-state-'));
  const configDir = mkdtempSync(join(tmpdir(), 'tx-config-'));
  writeFileSync(join(configDir, 'wrangler.toml'), testConfig());
  const vars = [];
  if (masterKey !== null) vars.push(`MASTER_KEY=${masterKey}`);
  if (operatorToken !== null) vars.push(`OPERATOR_TOKEN=${operatorToken}`);
  if (opts.devMode) vars.push('DEV_MODE=true');
  if (opts.masterKeyPrevious) vars.push(`MASTER_KEY_PREVIOUS=${opts.masterKeyPrevious}`);
  writeFileSync(join(configDir, '.dev.vars'), vars.join('\n') + '\n');
  // A free port can be taken by another process before wrangler binds it: try again on another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch({ opts, configDir, persistDir, masterKey, operatorToken });
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
    }
  }
}

async function launch({ opts, configDir, persistDir, masterKey, operatorToken }) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [WRANGLER, 'dev', '--config', join(configDir, 'wrangler.toml'), '--ip', '127.0.0.1', '--port', String(port),
      '--persist-to', persistDir, '--show-interactive-dev-session=false', '--log-level', opts.logLevel ?? 'warn',
      ...(opts.env ? ['--env', opts.env] : [])],
    { cwd: configDir, env: { ...process.env, WRANGLER_SEND_METRICS: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = [];
  child.stdout.on('data', (d) => output.push(d.toString()));
  child.stderr.on('data', (d) => output.push(d.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitUntilServing(url, child, output);
  return new TestWorker({ child, url, masterKey, operatorToken, persistDir, configDir, output });
}

export class TestWorker {
  constructor({ child, url, masterKey, operatorToken, persistDir, configDir, output }) {
    Object.assign(this, { child, url, masterKey, operatorToken, persistDir, configDir, output });
  }

  /** Stops wrangler dev and waits for it (and its workerd) to exit. */
  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Everything wrangler and the worker printed so far. */
  logs() {
    return this.output.join('');
  }

  /** fetch against the worker; `path` is absolute ("/orgs/..."). */
  fetch(path, init = {}) {
    return fetch(this.url + path, init);
  }

  /** POST a form (object of strings) and return { status, headers, body (parsed JSON or text) }. */
  async postForm(path, params, headers = {}) {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(params).toString(),
    });
  }

  async postJson(path, value, headers = {}) {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(value),
    });
  }

  async request(path, init = {}) {
    const res = await this.fetch(path, init);
    const text = await res.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {}
    return { status: res.status, headers: res.headers, body };
  }

  /** A new anonymous session of `org` (asserted 200); its token response. */
  async session(org) {
    const res = await this.postForm(`/orgs/${org}/sessions/anonymous`, {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  /** A refresh of `refresh_token` at `org`'s token endpoint; the raw result. */
  refresh(org, refresh_token) {
    return this.postForm(`/orgs/${org}/token`, { grant_type: 'refresh_token', refresh_token });
  }

  /** Operator API call with the operator token. */
  operator(method, path, body) {
    return this.request(`/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${this.operatorToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /**
   * Admin API call authorized by an org key (a creation response: `id`, `secret`, `public_jwk`),
   * with a fresh credential; `claims` overrides the credential's claims.
   */
  async asKey(key, method, path, body, claims = {}) {
    const token = await credential(this.url, key, claims);
    return this.request(`/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** Creates an org key through the operator API; returns the creation response body. */
  async createKey(org, spec) {
    const res = await this.operator('POST', `/orgs/${org}/keys`, spec);
    if (res.status !== 201) throw new Error(`create key: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /**
   * Creates an org with `settings` and one signing key; returns the key creation response body.
   * Tests start many sessions from one address, so the per-IP limit is off unless they set it.
   */
  async createOrg(org, settings = {}) {
    const put = await this.operator('PUT', `/orgs/${org}`, { anonymous_rate_limit: 'off', ...settings });
    if (put.status !== 201) throw new Error(`create org ${org}: ${put.status} ${JSON.stringify(put.body)}`);
    const key = await this.operator('POST', `/orgs/${org}/signing-keys`);
    if (key.status !== 201) throw new Error(`create key ${org}: ${key.status} ${JSON.stringify(key.body)}`);
    return key.body;
  }

  /** Reads a value from the simulated KV namespace as stored at rest (stop the worker first). */
  kvGet(key) {
    const r = spawnSync(
      process.execPath,
      [WRANGLER, 'kv', 'key', 'get', key, '--binding', 'ORGS', '--local', '--persist-to', this.persistDir,
        '--config', join(this.configDir, 'wrangler.toml'), '--text'],
      { cwd: this.configDir, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' } },
    );
    if (r.status !== 0) throw new Error(`wrangler kv key get ${key}: ${r.stderr}`);
    return r.stdout;
  }
}

/**
 * A credential for the admin API at `url`, signed with an org key's secret the way any JOSE
 * library would: EdDSA, kid = key id, iss = sub = key id, aud = `${url}/admin/v1`, 2 minutes.
 */
export async function credential(url, key, claims = {}, header = {}) {
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: key.public_jwk.x, d: key.secret.slice('sec_'.length) };
  const privateKey = await importJWK(jwk, 'EdDSA');
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: key.id, sub: key.id, aud: `${url}/admin/v1`, iat: now, exp: now + 120, jti: randomUUID(), ...claims };
  for (const [k, v] of Object.entries(payload)) if (v === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', kid: key.id, typ: 'JWT', ...header }).sign(privateKey);
}

/** Decodes a compact JWS's header and payload without verifying (tests only). */
export function decodeJwt(token) {
  const [h, p] = token.split('.');
  const dec = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: dec(h), payload: dec(p) };
}

/**
 * Asserts `res` (a `request`/`postForm`/`postJson`/`operator` result) is an OAuth error response
 * (RFC 6749 §5.2): `status`, `{"error","error_description"}` and nothing else, JSON, not stored.
 * `description`, when given, is a RegExp the error_description must match.
 */
export function assertOAuthError(res, status, error, description) {
  const body = JSON.stringify(res.body);
  assert.equal(res.status, status, `status ${res.status}, expected ${status}: ${body}`);
  assert.equal(typeof res.body, 'object', `body is not JSON: ${body}`);
  assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description'], `members: ${body}`);
  assert.equal(res.body.error, error, `error code: ${body}`);
  assert.equal(typeof res.body.error_description, 'string', body);
  if (description) assert.match(res.body.error_description, description, `error_description: ${body}`);
  assert.equal(res.headers.get('content-type'), 'application/json', `content-type of ${body}`);
  assert.equal(res.headers.get('cache-control'), 'no-store', `cache-control of ${body}`);
}
