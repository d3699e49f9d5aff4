// Rotating MASTER_KEY: with MASTER_KEY_PREVIOUS the worker opens what the old key sealed (signing
// keys, refresh tokens, providers' HS256 secrets); `tx reseal` re-seals every record of every org
// under the new key; then the old key can go. No access token stops verifying: the signing keys
// themselves do not change.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SignJWT, createLocalJWKSet, jwtVerify } from 'jose';
import { ROOT, assertOAuthError, randomSecret, startWorker } from './support/worker.mjs';

const persistDir = mkdtempSync(join(tmpdir(), 'tx-rotation-'));
const OLD = randomSecret();
const NEW = randomSecret();
const OPERATOR = randomSecret();
const HS_SECRET = 'legacy-shared-secret-'.padEnd(40, 'z');
let worker;
after(() => worker?.stop());

const session = async () => {
  const r = await worker.postForm('/orgs/rot/sessions/anonymous', {});
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};
const refresh = (refresh_token) => worker.postForm('/orgs/rot/token', { grant_type: 'refresh_token', refresh_token });
const verify = async (token) => {
  const jwks = createLocalJWKSet((await worker.request('/orgs/rot/.well-known/jwks.json')).body);
  return jwtVerify(token, jwks, { algorithms: ['EdDSA'] });
};
const exchangeHs256 = async () => {
  const upstream = await new SignJWT({ sub: 'legacy-user' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('https://legacy.example').setAudience('legacy').setIssuedAt().setExpirationTime('5m')
    .sign(new TextEncoder().encode(HS_SECRET));
  return worker.postForm('/orgs/rot/token', {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: upstream, subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  });
};
const restart = async (opts) => {
  await worker?.stop();
  worker = await startWorker({ persistDir, operatorToken: OPERATOR, ...opts });
};

test('rotate the master key: read with both, re-seal, drop the old one; tokens keep verifying', async () => {
  await restart({ masterKey: OLD });
  await worker.createOrg('rot');
  await worker.createKey('rot', { name: 'admin', use: 'admin' });
  const put = await worker.operator('PUT', '/orgs/rot/providers/legacy', {
    issuer: 'https://legacy.example', algorithms: ['HS256'], audiences: ['legacy'], hs256_secret: HS_SECRET,
  });
  assert.equal(put.status, 201, JSON.stringify(put.body));
  const before = await session();
  const spare = await session();
  assert.equal((await exchangeHs256()).status, 200);

  // During the rotation: MASTER_KEY is the new key, MASTER_KEY_PREVIOUS the old one.
  await restart({ masterKey: NEW, masterKeyPrevious: OLD });
  await verify(before.access_token);
  const during = await session();
  const refreshed = await refresh(before.refresh_token);
  assert.equal(refreshed.status, 200, 'a refresh token sealed under the old key still refreshes');
  assert.equal((await exchangeHs256()).status, 200, 'the provider secret sealed under the old key opens');

  const tx = (args) => spawnSync(join(ROOT, 'target', 'debug', 'tx'), args, {
    encoding: 'utf8', env: { PATH: process.env.PATH, TX_URL: worker.url, TX_OPERATOR_TOKEN: OPERATOR },
  });
  const first = tx(['reseal']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /^ORG\s+SIGNING KEYS\s+ORG KEYS\s+PROVIDERS$/m);
  assert.match(first.stdout, /^rot\s+1\s+1\s+1$/m, first.stdout);
  const again = tx(['--json', 'reseal']);
  const rot = JSON.parse(again.stdout).orgs.find((o) => o.org === 'rot');
  assert.deepEqual(rot.resealed, { signing_keys: 0, org_keys: 0, providers: 0 }, 'idempotent');
  const audit = (await worker.operator('GET', '/orgs/rot/audit')).body.entries;
  assert.ok(audit.some((e) => e.action === 'org.reseal'));

  // After: the old key is gone.
  await restart({ masterKey: NEW });
  for (const t of [before.access_token, during.access_token, refreshed.body.access_token]) await verify(t);
  const after1 = await session();
  await verify(after1.access_token);
  assert.equal((await refresh(refreshed.body.refresh_token)).status, 200, 'sealed under the new key');
  assert.equal((await exchangeHs256()).status, 200, 're-sealed provider secret');
  // A refresh token sealed under the old key and never refreshed during the rotation ends with it.
  assertOAuthError(await refresh(spare.refresh_token), 400, 'invalid_grant', /invalid/);
});

test('a malformed MASTER_KEY_PREVIOUS refuses to serve, naming it', async () => {
  await restart({ masterKey: NEW, masterKeyPrevious: 'not-a-key' });
  const res = await worker.postForm('/orgs/rot/sessions/anonymous', {});
  assertOAuthError(res, 503, 'temporarily_unavailable', /MASTER_KEY_PREVIOUS/);
  assert.ok(!JSON.stringify(res.body).includes('not-a-key'));
});
