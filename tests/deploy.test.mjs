// Deployment and operability: dry-run deploys of staging and production within Cloudflare's size
// limits, a production worker that refuses to serve with a development setting, /healthz, a
// request id and version on every response, and one JSON log line per request with no secret in it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, assertOAuthError, startWorker } from './support/worker.mjs';

const WRANGLER = join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
/** Workers' limit on a compressed script (the paid plan's is 10 MiB; the free plan's 3 MiB). */
const FREE_PLAN_GZIP_KIB = 3 * 1024;

describe('dry-run deploys', () => {
  for (const env of ['staging', 'production']) {
    test(`${env}: wrangler deploy --dry-run succeeds, within the size limit`, () => {
      const outdir = mkdtempSync(join(tmpdir(), `tx-dry-${env}-`));
      const r = spawnSync(process.execPath, [WRANGLER, 'deploy', '--dry-run', '--outdir', outdir, '--env', env], {
        cwd: ROOT, encoding: 'utf8', env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      });
      const out = r.stdout + r.stderr;
      assert.equal(r.status, 0, out);
      const m = out.match(/Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/);
      assert.ok(m, out);
      const gzip = Number(m[2]);
      console.log(`# ${env} bundle: ${m[1]} KiB, gzip ${gzip} KiB`);
      assert.ok(gzip < FREE_PLAN_GZIP_KIB, `gzip ${gzip} KiB`);
      assert.match(out, new RegExp(`ENVIRONMENT \\("${env}"\\)`));
      for (const binding of ['SESSIONS', 'USAGE', 'ORGS', 'ANON_RATE_STANDARD']) assert.match(out, new RegExp(`env\\.${binding}\\b`));
    });
  }
});

describe('a production worker with a development setting', () => {
  let w;
  before(async () => {
    w = await startWorker({ env: 'production', devMode: true });
  });
  after(() => w?.stop());

  test('refuses every request with 503 naming DEV_MODE', async () => {
    for (const res of [
      await w.postForm('/orgs/acme/sessions/anonymous', {}),
      await w.operator('PUT', '/orgs/acme', {}),
      await w.request('/orgs/acme/.well-known/jwks.json'),
    ]) {
      assertOAuthError(res, 503, 'temporarily_unavailable', /DEV_MODE.*production/);
    }
    const health = await w.request('/healthz');
    assert.equal(health.status, 503);
    assert.match(health.body.checks.config, /DEV_MODE/);
  });
});

describe('operability', () => {
  const persistDir = mkdtempSync(join(tmpdir(), 'tx-ops-'));
  let w;
  before(async () => {
    w = await startWorker({ env: 'production', logLevel: 'log', persistDir });
  });
  after(() => w?.stop());

  test('healthz: 200 with version and environment, no secret', async () => {
    const res = await w.request('/healthz');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.checks, { config: 'ok', kv: 'ok' });
    assert.equal(res.body.environment, 'production');
    assert.match(res.body.version, /^\d+\.\d+\.\d+/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const text = JSON.stringify(res.body);
    assert.ok(!text.includes(w.operatorToken) && !text.includes(w.masterKey));
  });

  test('plain-http identity providers are a development convenience: refused in production', async () => {
    await w.createOrg('prod-org');
    const provider = { issuer: 'http://127.0.0.1:9/idp', jwks_uri: 'http://127.0.0.1:9/jwks', algorithms: ['RS256'], audiences: ['c'] };
    assertOAuthError(await w.operator('PUT', '/orgs/prod-org/providers/local', provider), 400, 'invalid_request', /^issuer: an https URL, at most/);
    const https = { ...provider, issuer: 'https://idp.example', jwks_uri: 'https://idp.example/jwks' };
    assert.equal((await w.operator('PUT', '/orgs/prod-org/providers/real', https)).status, 201);
  });

  test('every response carries a request id and the version', async () => {
    const seen = new Set();
    for (const res of [
      await w.request('/healthz'),
      await w.request('/no/such/path'),
      await w.request('/orgs/acme/token'),
      await w.operator('GET', '/orgs/missing'),
    ]) {
      const id = res.headers.get('x-request-id');
      assert.match(id ?? '', /^[0-9a-f]{16}$|^\S+$/);
      seen.add(id);
      assert.match(res.headers.get('x-token-exchange-version') ?? '', /^\d+\.\d+\.\d+/);
    }
    assert.equal(seen.size, 4, 'a new id per request');
  });

  test('one JSON log line per request, and no secret in any log line', async () => {
    await w.createOrg('logged');
    const key = await w.createKey('logged', { name: 'k', use: 'admin' });
    const session = (await w.postForm('/orgs/logged/sessions/anonymous', {})).body;
    const refreshed = (await w.postForm('/orgs/logged/token', { grant_type: 'refresh_token', refresh_token: session.refresh_token })).body;
    const bad = await w.postForm('/orgs/logged/token', { grant_type: 'refresh_token', refresh_token: 'rt1.garbage' });
    assert.equal(bad.status, 400);
    const id = bad.headers.get('x-request-id');
    await new Promise((r) => setTimeout(r, 300));
    const logs = w.logs();
    const lines = logs.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{"request_id"'));
    const parsed = lines.map((l) => JSON.parse(l));
    const failed = parsed.find((l) => l.request_id === id);
    assert.ok(failed, `a line for request ${id}:\n${logs.slice(-2000)}`);
    assert.deepEqual(
      { endpoint: failed.endpoint, org: failed.org, status: failed.status, outcome: failed.outcome, method: failed.method },
      { endpoint: 'token', org: 'logged', status: 400, outcome: 'invalid_grant', method: 'POST' },
    );
    assert.ok(typeof failed.duration_ms === 'number');
    assert.ok(parsed.some((l) => l.endpoint === 'anonymous_session' && l.outcome === 'ok'));
    for (const secret of [
      w.operatorToken, w.masterKey, key.secret, key.secret.slice(4),
      session.refresh_token, session.access_token, refreshed.refresh_token, refreshed.access_token,
    ]) {
      assert.ok(!logs.includes(secret), `a secret reached the logs: ${secret.slice(0, 12)}…`);
    }
  });
});
