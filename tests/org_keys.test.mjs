// Org keys and the admin API they authorize: creation (secret shown once), listing, revocation,
// the scope table row by row, cross-org isolation (404), credential checks (401), delegation
// limits, the audit log, JWKS publication, and signing-key rotation.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, importJWK, jwtVerify, SignJWT } from 'jose';
import { assertOAuthError, credential, decodeJwt, startWorker } from './support/worker.mjs';

let worker;
let admin; // an admin key of acme, created by the operator
before(async () => {
  worker = await startWorker();
  await worker.createOrg('acme', { name: 'Acme' });
  await worker.createOrg('globex', { name: 'Globex' });
  admin = await worker.createKey('acme', { name: 'acme admin', use: 'admin' });
});
after(() => worker?.stop());

const ALL_SCOPES = [
  'org:read', 'org:write', 'keys:read', 'keys:write', 'providers:read', 'providers:write',
  'audit:read', 'tokens:introspect', 'sessions:read', 'sessions:revoke',
];

/** Every admin operation that exists today, with the scope it needs. */
const OPERATIONS = [
  ['org:read', 'GET', '/orgs/acme'],
  ['org:write', 'PUT', '/orgs/acme', { name: 'Acme' }],
  ['keys:read', 'GET', '/orgs/acme/keys'],
  ['keys:write', 'POST', '/orgs/acme/keys', { name: 'made by a test', scopes: ['keys:write'] }],
  ['keys:read', 'GET', '/orgs/acme/signing-keys'],
  ['keys:write', 'POST', '/orgs/acme/signing-keys'],
  ['audit:read', 'GET', '/orgs/acme/audit'],
  ['sessions:read', 'GET', '/orgs/acme/session-store'],
  ['sessions:revoke', 'POST', '/orgs/acme/revocations', { sub: 'nobody-in-particular' }],
];

const expectOk = (res, what) => assert.ok(res.status === 200 || res.status === 201, `${what}: ${res.status} ${JSON.stringify(res.body)}`);

describe('creating and reading keys', () => {
  test('the secret is in the creation response and nowhere else', async () => {
    const res = await worker.asKey(admin, 'POST', '/orgs/acme/keys', { name: 'server 1', use: 'production' });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const key = res.body;
    assert.match(key.id, /^key_[A-Za-z0-9_-]{22}$/);
    assert.match(key.secret, /^sec_[A-Za-z0-9_-]{43}$/);
    assert.equal(key.name, 'server 1');
    assert.equal(key.use, 'production');
    assert.deepEqual(key.scopes, ['tokens:introspect', 'sessions:read', 'sessions:revoke']);
    assert.equal(key.status, 'active');
    assert.equal(key.created_by, admin.id);
    assert.equal(key.public_jwk.kid, key.id);
    assert.equal(key.public_jwk.d, undefined);

    const got = await worker.asKey(admin, 'GET', `/orgs/acme/keys/${key.id}`);
    const listed = await worker.asKey(admin, 'GET', '/orgs/acme/keys');
    for (const res of [got, listed]) {
      assert.equal(res.status, 200);
      const text = JSON.stringify(res.body);
      assert.ok(!text.includes(key.secret.slice(4)), 'the secret is never shown again');
      assert.ok(!text.includes('"secret"') && !text.includes('"d"') && !text.includes('sealed'), text);
    }
    assert.ok(listed.body.keys.some((k) => k.id === key.id));
    assert.equal(got.body.name, 'server 1');
  });

  test('explicit scopes, conditions, and a name are validated with the field named', async () => {
    const ok = await worker.asKey(admin, 'POST', '/orgs/acme/keys', {
      name: 'factory line', scopes: ['keys:read', 'org:read'], conditions: { audiences: ['factory-1', 'factory-2'] },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.conditions, { audiences: ['factory-1', 'factory-2'] });
    assert.equal(ok.body.use, undefined);
    for (const [body, field] of [
      [{ name: 'x' }, /exactly one of use/],
      [{ name: 'x', use: 'root' }, /^use/],
      [{ name: 'x', scopes: ['keys:everything'] }, /^scopes: unknown scope/],
      [{ name: '', use: 'ci' }, /^name/],
      [{ name: 'x', use: 'ci', colour: 'red' }, /unknown field/],
      [{ name: 'x', use: 'ci', conditions: { audiences: ['a b'] } }, /^conditions.audiences/],
      [['x'], /must be a JSON object/],
    ]) {
      assertOAuthError(await worker.asKey(admin, 'POST', '/orgs/acme/keys', body), 400, 'invalid_request', field);
    }
  });

  test('the last use of a key is recorded', async () => {
    const key = await worker.createKey('acme', { name: 'used', use: 'ci' });
    assert.equal(key.last_used_at, null);
    expectOk(await worker.asKey(key, 'GET', '/orgs/acme'), 'use');
    let seen = null;
    for (let i = 0; i < 50 && seen === null; i++) {
      seen = (await worker.asKey(admin, 'GET', `/orgs/acme/keys/${key.id}`)).body.last_used_at;
      if (seen === null) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(Math.abs(seen - Date.now() / 1000) < 60, `last_used_at ${seen}`);
  });
});

describe('scope table: each named set can do exactly what the table says', () => {
  const SETS = {
    production: ['tokens:introspect', 'sessions:read', 'sessions:revoke'],
    ci: ['org:read', 'org:write', 'keys:read', 'providers:read', 'providers:write'],
    admin: ALL_SCOPES,
  };
  for (const [use, scopes] of Object.entries(SETS)) {
    test(`--use ${use}`, async () => {
      const key = await worker.createKey('acme', { name: `${use} key`, use });
      assert.deepEqual([...key.scopes].sort(), [...scopes].sort());
      for (const [scope, method, path, body] of OPERATIONS) {
        const res = await worker.asKey(key, method, path, body);
        if (scopes.includes(scope)) expectOk(res, `${use} ${method} ${path}`);
        else {
          assertOAuthError(res, 403, 'insufficient_scope', new RegExp(scope));
          assert.match(res.headers.get('www-authenticate'), new RegExp(`insufficient_scope.*scope="${scope}"`));
        }
      }
    });
  }

  for (const scope of [...new Set(OPERATIONS.map(([s]) => s))]) {
    test(`one scope short: a key with everything but ${scope} is refused exactly there`, async () => {
      const short = await worker.createKey('acme', { name: `all but ${scope}`, scopes: ALL_SCOPES.filter((s) => s !== scope) });
      const only = await worker.createKey('acme', { name: `only ${scope}`, scopes: [scope] });
      for (const [needed, method, path, body] of OPERATIONS.filter(([s]) => s === scope)) {
        assertOAuthError(await worker.asKey(short, method, path, body), 403, 'insufficient_scope', new RegExp(needed));
        expectOk(await worker.asKey(only, method, path, body), `only ${scope}: ${method} ${path}`);
      }
    });
  }
});

describe('another org is invisible', () => {
  test("an org key gets 404 for another org's objects, never 403", async () => {
    const globexKey = await worker.createKey('globex', { name: 'globex admin', use: 'admin' });
    for (const [, method, path, body] of OPERATIONS) {
      const res = await worker.asKey(admin, method, path.replace('/orgs/acme', '/orgs/globex'), body);
      assertOAuthError(res, 404, 'not_found');
    }
    assertOAuthError(await worker.asKey(admin, 'GET', `/orgs/acme/keys/${globexKey.id}`), 404, 'not_found');
    assertOAuthError(await worker.asKey(admin, 'DELETE', `/orgs/acme/keys/${globexKey.id}`), 404, 'not_found');
    assertOAuthError(await worker.asKey(admin, 'GET', '/orgs/does-not-exist'), 404, 'not_found');
    expectOk(await worker.asKey(globexKey, 'GET', '/orgs/globex'), 'globex key still works');
    assert.equal((await worker.operator('GET', `/orgs/globex/keys/${globexKey.id}`)).body.status, 'active');
  });

  test('an org key cannot create an org', async () => {
    assertOAuthError(await worker.asKey(admin, 'PUT', '/orgs/brand-new', {}), 404, 'not_found');
    assertOAuthError(await worker.operator('GET', '/orgs/brand-new'), 404, 'not_found');
  });
});

describe('credentials', () => {
  const now = () => Math.floor(Date.now() / 1000);
  const cases = [
    ['expired', () => ({ iat: now() - 600, exp: now() - 300 }), /expired/],
    ['longer-lived than 5 minutes', () => ({ exp: now() + 600 }), /lifetime/],
    ['for another audience', () => ({ aud: 'https://elsewhere.example/admin/v1' }), /aud must be/],
    ['with iss not the key id', () => ({ iss: 'someone' }), /iss must be the key id/],
    ['issued in the future', () => ({ iat: now() + 600, exp: now() + 700 }), /future/],
    ['without exp', () => ({ exp: undefined }), /exp/],
  ];
  for (const [name, claims, why] of cases) {
    test(`401 invalid_token: a credential ${name}`, async () => {
      const res = await worker.asKey(admin, 'GET', '/orgs/acme', undefined, claims());
      assertOAuthError(res, 401, 'invalid_token', why);
      assert.match(res.headers.get('www-authenticate'), /^Bearer error="invalid_token"/);
    });
  }

  test('401: a credential is single-use, a replay is refused', async () => {
    const token = await credential(worker.url, admin);
    const call = () => worker.request('/admin/v1/orgs/acme', { headers: { authorization: `Bearer ${token}` } });
    assert.equal((await call()).status, 200);
    assertOAuthError(await call(), 401, 'invalid_token', /already used/);
  });

  test('401: signed by another key than its kid names', async () => {
    const other = await worker.createKey('acme', { name: 'other', use: 'ci' });
    const forged = await credential(worker.url, { ...other, id: admin.id });
    const res = await worker.request('/admin/v1/orgs/acme', { headers: { authorization: `Bearer ${forged}` } });
    assertOAuthError(res, 401, 'invalid_token', /signature/);
  });

  test('401: an unknown key id, a non-key kid, alg none, a mangled token', async () => {
    const ghost = { ...admin, id: 'key_AAAAAAAAAAAAAAAAAAAAAA' };
    for (const [token, why] of [
      [await credential(worker.url, ghost), /unknown key/],
      [await credential(worker.url, admin, {}, { kid: 'not-a-key-id' }), /org key id/],
      [`${Buffer.from('{"alg":"none","kid":"x"}').toString('base64url')}.e30.`, /./],
      ['a.b.c', /./],
    ]) {
      const res = await worker.request('/admin/v1/orgs/acme', { headers: { authorization: `Bearer ${token}` } });
      assertOAuthError(res, 401, 'invalid_token', why);
    }
  });
});

describe('revocation', () => {
  test('a revoked key is refused at once and leaves the JWKS; revoking is idempotent', async () => {
    const key = await worker.createKey('acme', { name: 'to revoke', use: 'ci' });
    expectOk(await worker.asKey(key, 'GET', '/orgs/acme'), 'before');
    let jwks = (await worker.request('/orgs/acme/.well-known/jwks.json')).body;
    assert.ok(jwks.keys.some((k) => k.kid === key.id), 'an active org key is published');

    const revoked = await worker.asKey(admin, 'DELETE', `/orgs/acme/keys/${key.id}`);
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    assert.equal(revoked.body.status, 'revoked');
    assert.ok(revoked.body.revoked_at > 0);
    assertOAuthError(await worker.asKey(key, 'GET', '/orgs/acme'), 401, 'invalid_token', /revoked/);
    jwks = (await worker.request('/orgs/acme/.well-known/jwks.json')).body;
    assert.ok(!jwks.keys.some((k) => k.kid === key.id), 'a revoked key is not published');
    const again = await worker.asKey(admin, 'DELETE', `/orgs/acme/keys/${key.id}`);
    assert.equal(again.status, 200);
    assert.equal(again.body.revoked_at, revoked.body.revoked_at);
  });

  test('a key can neither create nor revoke a key more powerful than itself', async () => {
    const keyAdmin = await worker.createKey('acme', { name: 'key admin', scopes: ['keys:read', 'keys:write'] });
    assertOAuthError(
      await worker.asKey(keyAdmin, 'POST', '/orgs/acme/keys', { name: 'escalation', use: 'admin' }),
      403, 'insufficient_scope',
    );
    assertOAuthError(await worker.asKey(keyAdmin, 'DELETE', `/orgs/acme/keys/${admin.id}`), 403, 'insufficient_scope');
    const weaker = await worker.asKey(keyAdmin, 'POST', '/orgs/acme/keys', { name: 'reader', scopes: ['keys:read'] });
    assert.equal(weaker.status, 201, JSON.stringify(weaker.body));
    expectOk(await worker.asKey(keyAdmin, 'DELETE', `/orgs/acme/keys/${weaker.body.id}`), 'revoke weaker');
  });
});

describe('tokens an org server mints with its key', () => {
  test('verify with any JOSE library against the JWKS while the key is active', async () => {
    const key = await worker.createKey('acme', { name: 'minting server', use: 'production' });
    const privateKey = await importJWK({ kty: 'OKP', crv: 'Ed25519', x: key.public_jwk.x, d: key.secret.slice(4) }, 'EdDSA');
    const token = await new SignJWT({ sub: 'service-a', scope: 'orders:read' })
      .setProtectedHeader({ alg: 'EdDSA', kid: key.id })
      .setIssuer('acme-backend').setAudience('factory-1').setIssuedAt().setExpirationTime('5m')
      .sign(privateKey);
    const jwks = createLocalJWKSet((await worker.request('/orgs/acme/.well-known/jwks.json')).body);
    const { payload } = await jwtVerify(token, jwks, { audience: 'factory-1', algorithms: ['EdDSA'] });
    assert.equal(payload.sub, 'service-a');
  });
});

describe('audit log', () => {
  test('every key operation is listed newest first with who, what and when, paginated', async () => {
    const t0 = Date.now();
    const key = await worker.asKey(admin, 'POST', '/orgs/acme/keys', { name: 'audited', use: 'ci' });
    await worker.asKey(admin, 'DELETE', `/orgs/acme/keys/${key.body.id}`);
    const res = await worker.asKey(admin, 'GET', '/orgs/acme/audit?limit=100');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const mine = res.body.entries.filter((e) => e.target === key.body.id);
    assert.deepEqual(mine.map((e) => e.action), ['key.revoke', 'key.create']);
    for (const e of mine) {
      assert.equal(e.actor, admin.id);
      assert.ok(e.at_ms >= t0 - 5000 && e.at_ms <= Date.now() + 5000, `at_ms ${e.at_ms}`);
    }
    assert.deepEqual(mine[1].detail, { name: 'audited', scopes: key.body.scopes });
    assert.ok(!JSON.stringify(res.body).includes(key.body.secret.slice(4)), 'no secret in the audit log');
    const times = res.body.entries.map((e) => e.at_ms);
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');

    const first = await worker.asKey(admin, 'GET', '/orgs/acme/audit?limit=1');
    assert.equal(first.body.entries.length, 1);
    assert.ok(first.body.next_cursor);
    const second = await worker.asKey(admin, 'GET', `/orgs/acme/audit?limit=1&cursor=${encodeURIComponent(first.body.next_cursor)}`);
    assert.equal(second.body.entries.length, 1);
    assert.notDeepEqual(second.body.entries[0], first.body.entries[0]);
    assertOAuthError(await worker.asKey(admin, 'GET', '/orgs/acme/audit?limit=0'), 400, 'invalid_request', /limit/);
    assertOAuthError(await worker.asKey(admin, 'GET', '/orgs/acme/audit?colour=red'), 400, 'invalid_request', /colour/);
  });
});

describe('signing-key rotation', () => {
  const session = async (org) => {
    const res = await worker.postForm(`/orgs/${org}/sessions/anonymous`, {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body.access_token;
  };
  const verifyAll = async (org, tokens) => {
    const jwks = createLocalJWKSet((await worker.request(`/orgs/${org}/.well-known/jwks.json`)).body);
    for (const t of tokens) await jwtVerify(t, jwks, { algorithms: ['EdDSA'] });
  };

  test('a scheduled rotation publishes the new key at once and retires the old one at the handover', async () => {
    const first = await worker.createOrg('rot');
    const rotated = await worker.operator('POST', '/orgs/rot/signing-keys/rotate');
    assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
    assert.deepEqual(rotated.body.retiring, [first.kid]);
    const keys = (await worker.operator('GET', '/orgs/rot/signing-keys')).body.keys;
    const old = keys.find((k) => k.kid === first.kid);
    assert.equal(old.status, 'retired');
    assert.equal(old.retired_at, rotated.body.created_at + 300, 'retires when the new key has been published 300 s');
    // Which key signs during the overlap depends on 300 s of wall time (the old key must have
    // been published that long); the unit test a_rotation_hands_over_… covers the handover.
    const during = await session('rot');
    const jwks = (await worker.request('/orgs/rot/.well-known/jwks.json')).body;
    assert.deepEqual(new Set(jwks.keys.map((k) => k.kid)), new Set([first.kid, rotated.body.kid]));
    await verifyAll('rot', [during]);
  });

  test('an immediate rotation: only the new key signs, tokens of both verify', async () => {
    const first = await worker.createOrg('rot-now');
    const before = await session('rot-now');
    const rotated = await worker.asKey(
      await worker.createKey('rot-now', { name: 'rotator', scopes: ['keys:write'] }),
      'POST', '/orgs/rot-now/signing-keys/rotate', { immediate: true },
    );
    assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
    const after = await session('rot-now');
    assert.equal(decodeJwt(before).header.kid, first.kid);
    assert.equal(decodeJwt(after).header.kid, rotated.body.kid);
    await verifyAll('rot-now', [before, after]);
    const audit = (await worker.operator('GET', '/orgs/rot-now/audit')).body.entries;
    assert.equal(audit[0].action, 'signing_key.rotate');
    assert.deepEqual(audit[0].detail, { retiring: [first.kid] });
    assertOAuthError(
      await worker.operator('POST', '/orgs/rot-now/signing-keys/rotate', { immediate: 'yes' }),
      400, 'invalid_request', /rotation/,
    );
  });
});
