// Revocation and introspection: RFC 7009 for clients, the admin revocation API for each kind
// (session, subject, token, key), RFC 7662 introspection's truth table, revocations visible to the
// very next request, surviving a restart, and one Durable Object call per introspection.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SignJWT, importJWK } from 'jose';
import { assertOAuthError, decodeJwt, startWorker } from './support/worker.mjs';

const persistDir = mkdtempSync(join(tmpdir(), 'tx-revocation-'));
let worker;
let server; // a production key of acme: introspects and revokes
before(async () => {
  worker = await startWorker({ persistDir });
  await worker.createOrg('acme');
  await worker.createOrg('globex');
  server = await worker.createKey('acme', { name: 'backend', use: 'production' });
});
after(() => worker?.stop());

const newSession = (org = 'acme') => worker.session(org);
const refresh = (refresh_token, org = 'acme') => worker.refresh(org, refresh_token);
const introspect = async (token, key = server, org = 'acme') => {
  const { credential } = await import('./support/worker.mjs');
  const bearer = key === 'operator' ? worker.operatorToken : await credential(worker.url, key);
  return worker.postForm(`/orgs/${org}/introspect`, { token }, { authorization: `Bearer ${bearer}` });
};
const isActive = async (token) => {
  const res = await introspect(token);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.active;
};
const revoke = (body, key = server) => worker.asKey(key, 'POST', '/orgs/acme/revocations', body);

describe('introspection (RFC 7662)', () => {
  test('an active access token: its claims, token_type, and exactly one Durable Object call', async () => {
    const s = await newSession();
    const calls = async () => (await worker.operator('GET', '/orgs/acme/session-store')).body.totals.calls;
    const before0 = await calls();
    const res = await introspect(s.access_token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.body.active, true);
    assert.equal(res.body.sub, s.subject);
    assert.equal(res.body.sid, s.session_id);
    assert.equal(res.body.token_type, 'Bearer');
    assert.equal(res.body.scope, 'session');
    // The introspection call itself, and the admin check of the caller's key, are each one call.
    assert.equal((await calls()) - before0, 2);
  });

  test('inactive, with nothing else said: expired-looking, malformed, foreign, tampered', async () => {
    const other = await newSession('globex');
    const s = await newSession();
    const [h, p, sig] = s.access_token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...decodeJwt(s.access_token).payload, scope: 'admin' })).toString('base64url')}.${sig}`;
    for (const token of ['garbage', 'a.b.c', other.access_token, tampered, other.refresh_token, 'rt1.AAAA']) {
      const res = await introspect(token);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { active: false }, token);
    }
  });

  test('a refresh token is active while it is the newest of its live family', async () => {
    const s = await newSession();
    const r = await introspect(s.refresh_token);
    assert.equal(r.body.active, true);
    assert.equal(r.body.token_type, 'refresh_token');
    assert.equal(r.body.sid, s.session_id);
    const next = (await refresh(s.refresh_token)).body;
    assert.equal(await isActive(next.refresh_token), true);
    assert.equal(await isActive(s.refresh_token), false, 'a rotated-out refresh token is spent');
  });

  test('tokens an org server mints with its key are introspected within the key conditions', async () => {
    const minter = await worker.createKey('acme', { name: 'minter', use: 'production', conditions: { audiences: ['factory-1'] } });
    const key = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: minter.public_jwk.x, d: minter.secret.slice(4) }, 'EdDSA');
    const mint = (aud) => new SignJWT({ sub: 'svc-a', jti: `j-${aud}` }).setProtectedHeader({ alg: 'EdDSA', kid: minter.id })
      .setIssuer('acme-backend').setAudience(aud).setIssuedAt().setExpirationTime('5m').sign(key);
    assert.equal(await isActive(await mint('factory-1')), true);
    assert.equal(await isActive(await mint('factory-2')), false, 'outside the key audience conditions');
  });

  test('authentication: 401 without a credential, 403 without the scope, 401 for another org', async () => {
    const s = await newSession();
    const res = await worker.postForm('/orgs/acme/introspect', { token: s.access_token });
    assertOAuthError(res, 401, 'invalid_token');
    const ci = await worker.createKey('acme', { name: 'ci', use: 'ci' });
    assertOAuthError(await introspect(s.access_token, ci), 403, 'insufficient_scope', /tokens:introspect/);
    const globexServer = await worker.createKey('globex', { name: 'g', use: 'production' });
    // RFC 7662 §2.1, RFC 6750 §3: the endpoint exists; this credential is not valid for it.
    const foreign = await introspect(s.access_token, globexServer);
    assertOAuthError(foreign, 401, 'invalid_token', /not for this org/);
    assert.equal(foreign.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    assert.equal((await introspect(s.access_token, 'operator')).body.active, true);
  });
});

describe('revocation takes effect on the very next request', () => {
  test('a session: its refresh token and every access token it issued', async () => {
    const s = await newSession();
    const r1 = (await refresh(s.refresh_token)).body;
    const res = await revoke({ sub: s.subject, sid: s.session_id });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.revocation.kind, 'sid');
    assertOAuthError(await refresh(r1.refresh_token), 400, 'invalid_grant', /revoked/);
    assert.equal(await isActive(s.access_token), false);
    assert.equal(await isActive(r1.access_token), false);
  });

  test('a session never refreshed: its first refresh token is refused too', async () => {
    const s = await newSession();
    await revoke({ sub: s.subject, sid: s.session_id });
    assertOAuthError(await refresh(s.refresh_token), 400, 'invalid_grant', /revoked/);
  });

  test('a subject: every session and token issued until now; later sessions are untouched', async () => {
    const s = await newSession();
    const ex = await worker.postForm('/orgs/acme/token', { grant_type: 'refresh_token', refresh_token: s.refresh_token });
    await new Promise((r) => setTimeout(r, 1100));
    const res = await revoke({ sub: s.subject });
    assert.equal(res.body.revocation.kind, 'sub');
    assert.equal(await isActive(ex.body.access_token), false);
    assertOAuthError(await refresh(ex.body.refresh_token), 400, 'invalid_grant', /revoked/);
    const fresh = await newSession();
    assert.equal(await isActive(fresh.access_token), true);
  });

  test('one access token (jti): that token only', async () => {
    const s = await newSession();
    const r1 = (await refresh(s.refresh_token)).body;
    const { jti, exp } = decodeJwt(s.access_token).payload;
    await revoke({ sub: s.subject, jti, exp });
    assert.equal(await isActive(s.access_token), false);
    assert.equal(await isActive(r1.access_token), true);
    assert.equal((await refresh(r1.refresh_token)).status, 200);
  });

  test('a signing key: every token it signed; it leaves the JWKS and stops signing', async () => {
    const first = await worker.createOrg('keyed');
    const keyedServer = await worker.createKey('keyed', { name: 's', use: 'admin' });
    const before1 = await newSession('keyed');
    assertOAuthError(
      await worker.asKey(keyedServer, 'POST', '/orgs/keyed/revocations', { kid: first.kid }),
      409, 'conflict', /rotate/,
    );
    const rotated = await worker.asKey(keyedServer, 'POST', '/orgs/keyed/signing-keys/rotate', { immediate: true });
    assert.equal(rotated.status, 201);
    const after1 = await newSession('keyed');
    const res = await worker.asKey(keyedServer, 'POST', '/orgs/keyed/revocations', { kid: first.kid });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const check = (t) => introspect(t, keyedServer, 'keyed').then((r) => r.body.active);
    assert.equal(await check(before1.access_token), false, 'signed by the revoked key');
    assert.equal(await check(after1.access_token), true, 'signed by the new key');
    const jwks = (await worker.request('/orgs/keyed/.well-known/jwks.json')).body;
    assert.ok(!jwks.keys.some((k) => k.kid === first.kid), 'a revoked key leaves the JWKS');
    const keys = (await worker.asKey(keyedServer, 'GET', '/orgs/keyed/signing-keys')).body.keys;
    assert.equal(keys.find((k) => k.kid === first.kid).status, 'revoked');
  });

  test('an org key: its credentials and every token it minted', async () => {
    const victim = await worker.createKey('acme', { name: 'victim', use: 'production' });
    assert.equal((await introspect((await newSession()).access_token, victim)).status, 200);
    const admin = await worker.createKey('acme', { name: 'admin', use: 'admin' });
    const res = await revoke({ kid: victim.id }, admin);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assertOAuthError(await introspect((await newSession()).access_token, victim), 401, 'invalid_token', /revoked/);
    assert.equal((await worker.operator('GET', `/orgs/acme/keys/${victim.id}`)).body.status, 'revoked');
  });

  test('a key revocation needs keys:write as well as sessions:revoke', async () => {
    assertOAuthError(await revoke({ kid: 'A'.repeat(43) }), 403, 'insufficient_scope', /keys:write/);
  });

  test('bad requests name the shapes; audit records each revocation', async () => {
    for (const body of [{}, { sid: 'x' }, { jti: 'x' }, { sub: 'u', kid: 'k' }, { sub: 'u', colour: 1 }]) {
      assertOAuthError(await revoke(body), 400, 'invalid_request');
    }
    const audit = (await worker.operator('GET', '/orgs/acme/audit?limit=100')).body.entries;
    assert.ok(audit.some((e) => e.action === 'revocation.create' && e.actor === server.id));
  });
});

describe('RFC 7009: clients revoke their own tokens', () => {
  test('a refresh token revokes its session; 200 for anything, even garbage', async () => {
    const s = await newSession();
    const res = await worker.postForm('/orgs/acme/revoke', { token: s.refresh_token, token_type_hint: 'refresh_token' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assertOAuthError(await refresh(s.refresh_token), 400, 'invalid_grant', /revoked/);
    assert.equal(await isActive(s.access_token), false, 'the session access token is revoked with it');
    for (const token of ['garbage', s.refresh_token, 'rt1.AAAA', (await newSession('globex')).refresh_token]) {
      assert.equal((await worker.postForm('/orgs/acme/revoke', { token })).status, 200);
    }
    assertOAuthError(await worker.postForm('/orgs/acme/revoke', {}), 400, 'invalid_request', /token/);
  });

  test('an access token revokes itself only', async () => {
    const s = await newSession();
    assert.equal((await worker.postForm('/orgs/acme/revoke', { token: s.access_token })).status, 200);
    assert.equal(await isActive(s.access_token), false);
    assert.equal((await refresh(s.refresh_token)).status, 200);
  });

  test('metadata advertises both endpoints', async () => {
    const m = (await worker.request('/orgs/acme/.well-known/oauth-authorization-server')).body;
    assert.equal(m.revocation_endpoint, `${worker.url}/orgs/acme/revoke`);
    assert.equal(m.introspection_endpoint, `${worker.url}/orgs/acme/introspect`);
  });
});

describe('durability', () => {
  test('revocations survive a restart of the dev server', async () => {
    const s = await newSession();
    const t = await newSession();
    await revoke({ sub: s.subject, sid: s.session_id });
    const { jti, exp } = decodeJwt(t.access_token).payload;
    await revoke({ sub: t.subject, jti, exp });
    await worker.stop();
    worker = await startWorker({ persistDir, masterKey: worker.masterKey, operatorToken: worker.operatorToken });
    assertOAuthError(await refresh(s.refresh_token), 400, 'invalid_grant', /revoked/);
    assert.equal(await isActive(s.access_token), false);
    assert.equal(await isActive(t.access_token), false);
    assert.equal((await refresh(t.refresh_token)).status, 200);
  });
});
