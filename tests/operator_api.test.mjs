// The operator API (/admin/v1/...): authorization, misconfiguration, orgs, signing keys (creation,
// listing, signatures checked against Node's own Ed25519, rotation, retirement), and keys sealed
// at rest under MASTER_KEY across restarts.
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, sign } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { assertOAuthError, decodeJwt, randomSecret, startWorker } from './support/worker.mjs';

let worker;
before(async () => {
  worker = await startWorker();
  await worker.createOrg('acme', { name: 'Acme' });
});
after(() => worker?.stop());

const anonymous = (w, org) => w.postForm(`/orgs/${org}/sessions/anonymous`, {});

async function newSession(w, org) {
  const res = await anonymous(w, org);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

const kidOf = (accessToken) => decodeJwt(accessToken).header.kid;

/** An admin request with an arbitrary Authorization header (or none). */
const adminWith = (w, authorization, method = 'GET', path = '/orgs/acme') =>
  w.request(`/admin/v1${path}`, {
    method,
    headers: authorization === undefined ? {} : { authorization },
  });

/** Every object member name anywhere in a JSON value. */
function memberNames(value, out = new Set()) {
  if (Array.isArray(value)) value.forEach((v) => memberNames(v, out));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      out.add(k);
      memberNames(v, out);
    }
  }
  return out;
}

/** RFC 7638 thumbprint of an Ed25519 public key. */
const thumbprint = (x) =>
  createHash('sha256').update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x })).digest('base64url');

/** Waits until the wall clock is past `unixSecs` (the worker stamps keys in whole seconds). */
async function waitPastSecond(unixSecs) {
  const ms = (unixSecs + 1) * 1000 - Date.now();
  if (ms > 0) await new Promise((r) => setTimeout(r, ms + 20));
}

describe('authorization', () => {
  const cases = [
    ['no Authorization header', () => undefined, /missing/],
    ['Basic scheme', (t) => `Basic ${Buffer.from(`operator:${t}`).toString('base64')}`, /Bearer/],
    ['the token without a scheme', (t) => t, /Bearer/],
    ['Bearer with no token', () => 'Bearer ', /Bearer/],
    ['a wrong token', () => `Bearer ${randomSecret()}`, /invalid operator credential/],
    ['the token differing in its last character', (t) => `Bearer ${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`, /invalid/],
    ['a prefix of the token', (t) => `Bearer ${t.slice(0, -1)}`, /invalid/],
    ['the token with a suffix', (t) => `Bearer ${t}x`, /invalid/],
  ];
  for (const [name, header, description] of cases) {
    test(`401 invalid_token: ${name}`, async () => {
      for (const [method, path] of [
        ['GET', '/orgs/acme'],
        ['PUT', '/orgs/acme'],
        ['GET', '/orgs/acme/signing-keys'],
        ['POST', '/orgs/acme/signing-keys'],
        ['POST', `/orgs/acme/signing-keys/${'A'.repeat(43)}/retire`],
      ]) {
        const res = await adminWith(worker, header(worker.operatorToken), method, path);
        assertOAuthError(res, 401, 'invalid_token', description);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer\b/, `${method} ${path}`);
        assert.ok(!JSON.stringify(res.body).includes(worker.operatorToken), 'the token is never echoed');
      }
    });
  }

  test('the scheme is case-insensitive', async () => {
    const res = await adminWith(worker, `bearer ${worker.operatorToken}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('a refused PUT changes nothing', async () => {
    const res = await worker.request('/admin/v1/orgs/acme', {
      method: 'PUT',
      headers: { authorization: 'Bearer wrong', 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Hijacked' }),
    });
    assert.equal(res.status, 401);
    assert.equal((await worker.operator('GET', '/orgs/acme')).body.settings.name, 'Acme');
  });

  test('wrong method is 405 with Allow, OPTIONS included (no CORS for the operator API)', async () => {
    for (const [method, path, allow] of [
      ['DELETE', '/orgs/acme', 'GET, PUT'],
      ['POST', '/orgs/acme', 'GET, PUT'],
      ['OPTIONS', '/orgs/acme', 'GET, PUT'],
      ['DELETE', '/orgs/acme/signing-keys', 'GET, POST'],
      ['GET', `/orgs/acme/signing-keys/${'A'.repeat(43)}/retire`, 'POST'],
    ]) {
      const res = await worker.operator(method, path);
      assertOAuthError(res, 405, 'invalid_request');
      assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
    }
  });
});

describe('misconfigured secrets', () => {
  // One KV directory for the three workers below: the first creates an org without a key.
  const persistDir = mkdtempSync(join(tmpdir(), 'tx-misconfig-'));
  const SHORT_OPERATOR_TOKEN = 'op-token-31-characters-long-xyz';
  assert.equal(SHORT_OPERATOR_TOKEN.length, 31);

  describe('MASTER_KEY unset', () => {
    let w;
    before(async () => {
      // A healthy worker creates the org the workers below share, without a signing key.
      const healthy = await startWorker({ persistDir });
      const res = await healthy.operator('PUT', '/orgs/plain', {});
      assert.equal(res.status, 201, JSON.stringify(res.body));
      await healthy.stop();
      w = await startWorker({ masterKey: null, persistDir });
    });
    after(() => w?.stop());

    test('every request is 503 naming MASTER_KEY, public and admin alike', async () => {
      for (const res of [
        await w.operator('PUT', '/orgs/plain', {}),
        await w.operator('POST', '/orgs/plain/signing-keys'),
        await anonymous(w, 'plain'),
        await w.request('/orgs/plain/.well-known/jwks.json'),
      ]) {
        assertOAuthError(res, 503, 'temporarily_unavailable', /MASTER_KEY/);
      }
    });

    test('healthz says so, without the secret', async () => {
      const res = await w.request('/healthz');
      assert.equal(res.status, 503);
      assert.equal(res.body.status, 'unavailable');
      assert.match(res.body.checks.config, /MASTER_KEY/);
    });
  });

  describe('OPERATOR_TOKEN unset', () => {
    let w;
    before(async () => {
      w = await startWorker({ operatorToken: null, persistDir });
    });
    after(() => w?.stop());

    test('every operator call is 503 naming OPERATOR_TOKEN', async () => {
      for (const auth of [undefined, 'Bearer anything-at-all-anything-at-all', 'Bearer ']) {
        const res = await adminWith(w, auth, 'GET', '/orgs/plain');
        assertOAuthError(res, 503, 'temporarily_unavailable', /OPERATOR_TOKEN/);
        assert.equal(res.headers.get('www-authenticate'), null);
      }
    });

    test('the public endpoints still answer', async () => {
      const res = await w.request('/orgs/plain/.well-known/jwks.json');
      assert.equal(res.status, 200, JSON.stringify(res.body));
    });
  });

  describe('MASTER_KEY malformed ("short")', () => {
    let w;
    before(async () => {
      w = await startWorker({ masterKey: 'short', persistDir });
    });
    after(() => w?.stop());

    test('creating a signing key is 503 naming MASTER_KEY, never its value', async () => {
      const res = await w.operator('POST', '/orgs/plain/signing-keys');
      assertOAuthError(res, 503, 'temporarily_unavailable', /MASTER_KEY/);
      assert.ok(!/\bshort\b/.test(res.body.error_description), res.body.error_description);
    });

    test('an anonymous session is 503 naming MASTER_KEY, never its value', async () => {
      const res = await anonymous(w, 'plain');
      assertOAuthError(res, 503, 'temporarily_unavailable', /MASTER_KEY/);
      assert.ok(!/\bshort\b/.test(res.body.error_description), res.body.error_description);
    });
  });

  describe('OPERATOR_TOKEN of 31 characters', () => {
    let w;
    before(async () => {
      w = await startWorker({ operatorToken: SHORT_OPERATOR_TOKEN, persistDir });
    });
    after(() => w?.stop());

    test('the short operator token is refused as misconfiguration, even when presented', async () => {
      const res = await adminWith(w, `Bearer ${SHORT_OPERATOR_TOKEN}`, 'GET', '/orgs/plain');
      assertOAuthError(res, 503, 'temporarily_unavailable', /OPERATOR_TOKEN/);
      assert.ok(!JSON.stringify(res.body).includes(SHORT_OPERATOR_TOKEN), JSON.stringify(res.body));
    });
  });
});

describe('orgs', () => {
  test('PUT creates (201), PUT again updates (200), GET returns the record', async () => {
    const created = await worker.operator('PUT', '/orgs/org-a', { name: 'A', anonymous_scope: 'session read' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('cache-control'), 'no-store');
    assert.equal(created.body.id, 'org-a');
    assert.equal(created.body.settings.name, 'A');
    assert.equal(created.body.settings.anonymous_scope, 'session read');
    assert.equal(created.body.settings.access_token_ttl_secs, 600, 'defaults are filled in');
    assert.equal(created.body.settings.anonymous_sessions, true);
    assert.deepEqual(created.body.settings.allowed_origins, []);
    assert.equal(typeof created.body.created_at, 'number');
    assert.ok(Math.abs(created.body.created_at - Date.now() / 1000) < 30);

    const updated = await worker.operator('PUT', '/orgs/org-a', { name: 'A2', allowed_origins: ['https://a.test'] });
    assert.equal(updated.status, 200, JSON.stringify(updated.body));
    assert.equal(updated.body.created_at, created.body.created_at);
    assert.ok(updated.body.updated_at >= created.body.updated_at);
    assert.equal(updated.body.settings.name, 'A2');
    assert.equal(updated.body.settings.anonymous_scope, 'session', 'PUT replaces the settings');

    const got = await worker.operator('GET', '/orgs/org-a');
    assert.equal(got.status, 200, JSON.stringify(got.body));
    assert.deepEqual(got.body, updated.body);
  });

  for (const [name, settings, field] of [
    ['access_token_ttl_secs 7200', { access_token_ttl_secs: 7200 }, /^access_token_ttl_secs/],
    ['access_token_ttl_secs 10', { access_token_ttl_secs: 10 }, /^access_token_ttl_secs/],
    ['access_token_ttl_secs as a string', { access_token_ttl_secs: '600' }, /invalid type/],
    ['session_ttl_secs below the access token ttl', { session_ttl_secs: 100 }, /^session_ttl_secs/],
    ['allowed_origins with a path', { allowed_origins: ['http://x.test/path'] }, /^allowed_origins/],
    ['allowed_origins with a trailing slash', { allowed_origins: ['https://x.test/'] }, /^allowed_origins/],
    ['allowed_origins "*"', { allowed_origins: ['*'] }, /^allowed_origins/],
    ['anonymous_scope malformed', { anonymous_scope: 'a  b' }, /^anonymous_scope/],
    ['an empty audience', { audiences: [''] }, /^audiences/],
    ['a name with a control character', { name: 'a\u0000b' }, /^name/],
    ['an unknown field', { colour: 'red' }, /unknown field `colour`/],
  ]) {
    test(`invalid settings: ${name} → 400 naming the field`, async () => {
      const res = await worker.operator('PUT', '/orgs/org-a', settings);
      assertOAuthError(res, 400, 'invalid_request', field);
    });
  }

  for (const [name, body] of [
    ['not JSON', 'name=x'],
    ['empty', ''],
  ]) {
    test(`invalid settings body: ${name} → 400`, async () => {
      const res = await worker.request('/admin/v1/orgs/org-a', {
        method: 'PUT',
        headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'application/json' },
        body,
      });
      assertOAuthError(res, 400, 'invalid_request', /invalid org settings/);
    });
  }

  test('settings that are a JSON array → 400, and the org is unchanged', async () => {
    const put = await worker.operator('PUT', '/orgs/arr', { name: 'Keep', access_token_ttl_secs: 300 });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    for (const body of ['[]', '["Positional"]']) {
      const res = await worker.request('/admin/v1/orgs/arr', {
        method: 'PUT',
        headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'application/json' },
        body,
      });
      assertOAuthError(res, 400, 'invalid_request');
    }
    assert.deepEqual((await worker.operator('GET', '/orgs/arr')).body.settings, put.body.settings);
  });

  test('a refused update leaves the org as it was; a refused create creates nothing', async () => {
    const before = (await worker.operator('GET', '/orgs/org-a')).body;
    await worker.operator('PUT', '/orgs/org-a', { access_token_ttl_secs: 7200 });
    assert.deepEqual((await worker.operator('GET', '/orgs/org-a')).body, before);

    const res = await worker.operator('PUT', '/orgs/never', { colour: 'red' });
    assert.equal(res.status, 400);
    assertOAuthError(await worker.operator('GET', '/orgs/never'), 404, 'not_found');
  });

  for (const contentType of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    undefined,
  ]) {
    test(`PUT with content type ${contentType ?? '(none)'} → 415`, async () => {
      const headers = { authorization: `Bearer ${worker.operatorToken}` };
      if (contentType) headers['content-type'] = contentType;
      const res = await worker.request('/admin/v1/orgs/org-a', {
        method: 'PUT',
        headers,
        // A Uint8Array body: fetch adds no Content-Type of its own.
        body: new TextEncoder().encode('{}'),
      });
      assertOAuthError(res, 415, 'invalid_request');
    });
  }

  test('application/json with a charset is JSON', async () => {
    const res = await worker.request('/admin/v1/orgs/org-a', {
      method: 'PUT',
      headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'application/json; charset=utf-8' },
      body: '{"name":"A3"}',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  test('a settings change applies to the next session: access_token_ttl_secs 120', async () => {
    await worker.createOrg('ttl');
    assert.equal((await newSession(worker, 'ttl')).expires_in, 600);
    const put = await worker.operator('PUT', '/orgs/ttl', { access_token_ttl_secs: 120 });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const s = await newSession(worker, 'ttl');
    assert.equal(s.expires_in, 120);
    const { payload } = decodeJwt(s.access_token);
    assert.equal(payload.exp - payload.iat, 120);
  });

  test('disabling anonymous sessions applies at once', async () => {
    await worker.createOrg('toggle');
    await newSession(worker, 'toggle');
    await worker.operator('PUT', '/orgs/toggle', { anonymous_sessions: false });
    assertOAuthError(await anonymous(worker, 'toggle'), 403, 'access_denied');
    await worker.operator('PUT', '/orgs/toggle', {});
    await newSession(worker, 'toggle');
  });
});

describe('signing keys', () => {
  let created; // the creation response of the key under test
  before(async () => {
    const put = await worker.operator('PUT', '/orgs/keys', {});
    assert.equal(put.status, 201, JSON.stringify(put.body));
  });

  test('create → 201 with the private JWK, shown once', async () => {
    const res = await worker.operator('POST', '/orgs/keys/signing-keys');
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    created = res.body;
    assert.match(created.kid, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(created.status, 'active');
    const { private_jwk: priv, public_jwk: pub } = created;
    assert.equal(priv.kty, 'OKP');
    assert.equal(priv.crv, 'Ed25519');
    assert.match(priv.d, /^[A-Za-z0-9_-]{43}$/, 'd is a 32-byte base64url seed');
    assert.equal(priv.x, pub.x);
    assert.equal(pub.d, undefined);
    assert.equal(created.kid, thumbprint(pub.x), 'kid is the RFC 7638 thumbprint');
    assert.equal(pub.kid, created.kid);
    // The private key really is the public key's: Node derives the same x from d.
    const derived = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: priv.x, d: priv.d }, format: 'jwk' })
      .export({ format: 'jwk' });
    assert.equal(derived.x, pub.x);
  });

  test('list → public parts only: no d, no ciphertext, no sealed_seed', async () => {
    const res = await worker.operator('GET', '/orgs/keys/signing-keys');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const text = JSON.stringify(res.body);
    assert.equal(res.body.keys.length, 1);
    assert.equal(res.body.keys[0].kid, created.kid);
    assert.equal(res.body.keys[0].status, 'active');
    const names = memberNames(res.body);
    for (const secret of ['d', 'ciphertext', 'sealed_seed', 'iv', 'private_jwk']) {
      assert.ok(!names.has(secret), `member ${secret} in ${text}`);
    }
    assert.ok(!text.includes('sealed_seed') && !text.includes('ciphertext'), text);
    assert.ok(!text.includes(created.private_jwk.d), 'the seed is not in the list');
  });

  test('signatures are byte-identical to Node\u2019s Ed25519 with the returned private JWK (RFC 8032)', async () => {
    const s = await newSession(worker, 'keys');
    const [h, p, sig] = s.access_token.split('.');
    assert.equal(kidOf(s.access_token), created.kid);
    const { kty, crv, x, d } = created.private_jwk;
    const key = createPrivateKey({ key: { kty, crv, x, d }, format: 'jwk' });
    const ours = sign(null, Buffer.from(`${h}.${p}`, 'ascii'), key);
    assert.equal(ours.length, 64);
    assert.equal(ours.toString('base64url'), sig);
    // And another token, to be sure it is not a coincidence of one input.
    const t = (await newSession(worker, 'keys')).access_token.split('.');
    assert.equal(sign(null, Buffer.from(`${t[0]}.${t[1]}`), key).toString('base64url'), t[2]);
  });

  describe('rotation', () => {
    let k1;
    let k2;
    let oldToken;
    before(async () => {
      k1 = await worker.createOrg('rot');
      oldToken = (await newSession(worker, 'rot')).access_token;
    });

    const jwksKids = async (org) => {
      const res = await worker.request(`/orgs/${org}/.well-known/jwks.json`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.keys.map((k) => k.kid).sort();
    };
    const verifyWithJwks = async (org, token) => {
      const jwks = (await worker.request(`/orgs/${org}/.well-known/jwks.json`)).body;
      return jwtVerify(token, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] });
    };

    test('a second key signs new sessions; the JWKS lists both', async () => {
      assert.equal(kidOf(oldToken), k1.kid);
      // Keys are stamped in whole seconds: make the second one strictly newer (see the tie test).
      await waitPastSecond(k1.created_at);
      const res = await worker.operator('POST', '/orgs/rot/signing-keys');
      assert.equal(res.status, 201, JSON.stringify(res.body));
      k2 = res.body;
      assert.notEqual(k2.kid, k1.kid);
      assert.equal(kidOf((await newSession(worker, 'rot')).access_token), k2.kid);
      assert.deepEqual(await jwksKids('rot'), [k1.kid, k2.kid].sort());
      // Tokens of the first key still verify.
      await verifyWithJwks('rot', oldToken);
    });

    test('retiring the first key: status retired, still published', async () => {
      const res = await worker.operator('POST', `/orgs/rot/signing-keys/${k1.kid}/retire`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.kid, k1.kid);
      assert.equal(res.body.status, 'retired');
      assert.equal(typeof res.body.retired_at, 'number');
      assert.equal(res.body.public_jwk.d, undefined);
      assert.deepEqual(await jwksKids('rot'), [k1.kid, k2.kid].sort(), 'retired keys stay in the JWKS');
      await verifyWithJwks('rot', oldToken);

      const list = (await worker.operator('GET', '/orgs/rot/signing-keys')).body.keys;
      const status = Object.fromEntries(list.map((k) => [k.kid, k.status]));
      assert.deepEqual(status, { [k1.kid]: 'retired', [k2.kid]: 'active' });
      assert.equal(kidOf((await newSession(worker, 'rot')).access_token), k2.kid);
    });

    test('retiring a retired key again is harmless', async () => {
      const res = await worker.operator('POST', `/orgs/rot/signing-keys/${k1.kid}/retire`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.status, 'retired');
    });

    test('retiring the only active key → 409 conflict', async () => {
      const res = await worker.operator('POST', `/orgs/rot/signing-keys/${k2.kid}/retire`);
      assertOAuthError(res, 409, 'conflict', /only active signing key/);
      assert.equal(kidOf((await newSession(worker, 'rot')).access_token), k2.kid, 'it still signs');
    });

    test('retiring an unknown kid (valid syntax) → 404', async () => {
      const res = await worker.operator('POST', `/orgs/rot/signing-keys/${'A'.repeat(43)}/retire`);
      assertOAuthError(res, 404, 'not_found');
    });

    test('retiring a kid of invalid syntax → 404', async () => {
      for (const kid of ['short', 'A'.repeat(44), `${'A'.repeat(42)}=`]) {
        assertOAuthError(await worker.operator('POST', `/orgs/rot/signing-keys/${kid}/retire`), 404, 'not_found');
      }
    });

    test('retiring a key of another org → 404, and it stays active there', async () => {
      const res = await worker.operator('POST', `/orgs/rot/signing-keys/${created.kid}/retire`);
      assertOAuthError(res, 404, 'not_found');
      const keys = (await worker.operator('GET', '/orgs/keys/signing-keys')).body.keys;
      assert.equal(keys.find((k) => k.kid === created.kid)?.status, 'active');
    });
  });

  test('the newest key signs, even when created within the same second as the previous', async () => {
    await worker.createOrg('tie');
    const seen = [];
    for (let i = 0; i < 12; i++) {
      const res = await worker.operator('POST', '/orgs/tie/signing-keys');
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const signer = kidOf((await newSession(worker, 'tie')).access_token);
      seen.push(`${res.body.created_at} ${res.body.kid} → signed by ${signer}`);
      assert.equal(signer, res.body.kid, `the key created last (#${i + 2}) is not the signer:\n${seen.join('\n')}`);
    }
  });
});

describe('unknown org', () => {
  for (const [method, path] of [
    ['GET', '/orgs/ghost'],
    ['GET', '/orgs/ghost/signing-keys'],
    ['POST', '/orgs/ghost/signing-keys'],
    ['POST', `/orgs/ghost/signing-keys/${'A'.repeat(43)}/retire`],
  ]) {
    test(`${method} ${path} → 404`, async () => {
      assertOAuthError(await worker.operator(method, path), 404, 'not_found');
    });
  }

  test('creating a key for an unknown org does not create the org', async () => {
    await worker.operator('POST', '/orgs/ghost/signing-keys');
    assertOAuthError(await worker.operator('GET', '/orgs/ghost'), 404, 'not_found');
    assertOAuthError(await anonymous(worker, 'ghost'), 404, 'not_found');
  });

  test('an org id that cannot exist → 404', async () => {
    for (const org of ['Acme', 'a_b', '-acme', 'a'.repeat(64)]) {
      assertOAuthError(await worker.operator('PUT', `/orgs/${org}`, {}), 404, 'not_found');
    }
  });
});

describe('persistence and encryption at rest', () => {
  const persistDir = mkdtempSync(join(tmpdir(), 'tx-persist-'));
  const masterKey = randomSecret();
  const otherMasterKey = randomSecret();
  let key; // creation response: kid and private_jwk
  let first; // a session issued by the first worker
  let stoppedWorker; // the first worker, stopped: its config reads the KV directory

  describe('first start', () => {
    before(async () => {
      stoppedWorker = await startWorker({ masterKey, persistDir });
    });
    after(() => stoppedWorker?.stop());

    test('create an org and a key, issue a session', async () => {
      key = await stoppedWorker.createOrg('keep', { anonymous_scope: 'session read' });
      first = await newSession(stoppedWorker, 'keep');
      assert.equal(kidOf(first.access_token), key.kid);
    });
  });

  describe('the stored signing key record', () => {
    let raw;
    let record;
    before(async () => {
      await stoppedWorker.stop();
      raw = stoppedWorker.kvGet(`org/keep/signing-key/${key.kid}`);
      record = JSON.parse(raw);
    });

    test('does not contain the seed in any encoding', () => {
      const seed = Buffer.from(key.private_jwk.d, 'base64url');
      assert.equal(seed.length, 32);
      for (const form of [
        key.private_jwk.d,
        seed.toString('base64'),
        seed.toString('base64').replace(/=+$/, ''),
        seed.toString('hex'),
      ]) {
        assert.ok(!raw.includes(form), `the stored record contains the seed (${form}):\n${raw}`);
      }
      assert.ok(!memberNames(record).has('d'), raw);
      assert.ok(!memberNames(record).has('private_jwk'), raw);
    });

    test('holds the seed sealed: sealed_seed with master_key_id, iv, ciphertext', () => {
      assert.equal(record.kid, key.kid);
      assert.equal(record.org, 'keep');
      assert.equal(record.status, 'active');
      const s = record.sealed_seed;
      assert.ok(s && typeof s === 'object', raw);
      assert.deepEqual(Object.keys(s).sort(), ['ciphertext', 'iv', 'master_key_id']);
      assert.match(s.master_key_id, /^[A-Za-z0-9_-]{8}$/);
      assert.equal(Buffer.from(s.iv, 'base64url').length, 12);
      assert.equal(Buffer.from(s.ciphertext, 'base64url').length, 32 + 16, '32-byte seed + GCM tag');
      assert.ok(!raw.includes(masterKey), 'the master key is not stored');
    });
  });

  describe('restart with the same MASTER_KEY', () => {
    let w;
    before(async () => {
      w = await startWorker({ masterKey, persistDir });
    });
    after(() => w?.stop());

    test('the same key signs new sessions', async () => {
      const s = await newSession(w, 'keep');
      assert.equal(kidOf(s.access_token), key.kid);
      assert.equal(s.scope, 'session read', 'settings survived');
    });

    test('the old refresh token still refreshes, same identity', async () => {
      const res = await w.postForm('/orgs/keep/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.subject, first.subject);
      assert.equal(res.body.session_id, first.session_id);
      assert.equal(kidOf(res.body.access_token), key.kid);
    });

    test('the old access token verifies against the JWKS', async () => {
      const jwks = (await w.request('/orgs/keep/.well-known/jwks.json')).body;
      await jwtVerify(first.access_token, createLocalJWKSet(jwks), { algorithms: ['EdDSA'] });
    });
  });

  describe('restart with a different MASTER_KEY', () => {
    let w;
    before(async () => {
      w = await startWorker({ masterKey: otherMasterKey, persistDir });
    });
    after(() => w?.stop());

    test('an anonymous session is 503 mentioning MASTER_KEY, with no key material', async () => {
      const res = await anonymous(w, 'keep');
      assertOAuthError(res, 503, 'temporarily_unavailable', /MASTER_KEY/);
      const text = JSON.stringify(res.body);
      for (const secret of [masterKey, otherMasterKey, key.private_jwk.d]) {
        assert.ok(!text.includes(secret), `secret material in ${text}`);
      }
    });

    test('the old refresh token is not honoured', async () => {
      const res = await w.postForm('/orgs/keep/token', { grant_type: 'refresh_token', refresh_token: first.refresh_token });
      assertOAuthError(res, 503, 'temporarily_unavailable', /MASTER_KEY/);
    });

    test('no panic or wasm trap in the logs', () => {
      for (const bad of ['panicked', 'RuntimeError', 'unreachable']) {
        assert.ok(!w.logs().includes(bad), w.logs());
      }
    });
  });
});
