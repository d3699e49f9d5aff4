// Anonymous sessions end to end: issue, verify with an independent JOSE library (npm `jose`)
// using only the published metadata and JWKS, refresh.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { decodeJwt, startWorker } from './support/worker.mjs';

let worker;
before(async () => {
  worker = await startWorker();
  await worker.createOrg('acme', { name: 'Acme', anonymous_scope: 'session read:profile' });
});
after(() => worker.stop());

/** Verifies an access token the way a third party would: discovery, then JWKS, then jose. */
async function verifyIndependently(token) {
  const meta = await worker.request('/.well-known/oauth-authorization-server/orgs/acme');
  assert.equal(meta.status, 200);
  const jwks = createRemoteJWKSet(new URL(meta.body.jwks_uri));
  return jwtVerify(token, jwks, {
    issuer: meta.body.issuer,
    audience: meta.body.issuer,
    algorithms: ['EdDSA'],
    typ: 'at+jwt',
  });
}

describe('anonymous session', () => {
  test('issues a token that jose verifies from the published JWKS', async () => {
    const res = await worker.postForm('/orgs/acme/sessions/anonymous', {});
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const b = res.body;
    assert.equal(b.token_type, 'Bearer');
    assert.equal(b.expires_in, 600);
    assert.match(b.refresh_token, /^rt1\./);
    assert.match(b.subject, /^anon_[A-Za-z0-9_-]{22}$/);
    assert.match(b.session_id, /^sid_[A-Za-z0-9_-]{22}$/);
    assert.equal(b.scope, 'session read:profile');

    const { payload, protectedHeader } = await verifyIndependently(b.access_token);
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.match(protectedHeader.kid, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(payload.iss, `${worker.url}/orgs/acme`);
    assert.equal(payload.sub, b.subject);
    assert.equal(payload.sid, b.session_id);
    assert.equal(payload.anonymous, true);
    assert.equal(payload.scope, 'session read:profile');
    assert.equal(payload.exp - payload.iat, 600);
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 30);
    assert.match(payload.jti, /^[A-Za-z0-9_-]{22}$/);
  });

  test('every session gets fresh ids', async () => {
    const a = (await worker.postForm('/orgs/acme/sessions/anonymous', {})).body;
    const b = (await worker.postForm('/orgs/acme/sessions/anonymous', {})).body;
    assert.notEqual(a.subject, b.subject);
    assert.notEqual(a.session_id, b.session_id);
    assert.notEqual(decodeJwt(a.access_token).payload.jti, decodeJwt(b.access_token).payload.jti);
  });

  test('accepts a JSON body with a device_id and carries it in the token', async () => {
    const res = await worker.postJson('/orgs/acme/sessions/anonymous', { device_id: 'tab-1.browser' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const { payload } = await verifyIndependently(res.body.access_token);
    assert.equal(payload.device_id, 'tab-1.browser');
  });

  test('an empty POST with no content type is a valid request', async () => {
    const res = await worker.request('/orgs/acme/sessions/anonymous', { method: 'POST' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });
});

describe('refresh', () => {
  test('keeps sub and sid, rotates the refresh token, issues a new access token', async () => {
    const first = (await worker.postForm('/orgs/acme/sessions/anonymous', { device_id: 'd1' })).body;
    const res = await worker.postForm('/orgs/acme/token', {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token,
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const second = res.body;
    assert.equal(second.subject, first.subject);
    assert.equal(second.session_id, first.session_id);
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.notEqual(second.access_token, first.access_token);
    const { payload } = await verifyIndependently(second.access_token);
    assert.equal(payload.sub, first.subject);
    assert.equal(payload.sid, first.session_id);
    assert.equal(payload.device_id, 'd1');
    assert.equal(payload.scope, 'session read:profile');

    // The rotated token refreshes too (JSON body this time), still the same identity.
    const third = await worker.postJson('/orgs/acme/token', {
      grant_type: 'refresh_token',
      refresh_token: second.refresh_token,
    });
    assert.equal(third.status, 200, JSON.stringify(third.body));
    assert.equal(third.body.subject, first.subject);
  });

  test('may narrow the scope, never widen it', async () => {
    const s = (await worker.postForm('/orgs/acme/sessions/anonymous', {})).body;
    const narrowed = await worker.postForm('/orgs/acme/token', {
      grant_type: 'refresh_token',
      refresh_token: s.refresh_token,
      scope: 'session',
    });
    assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
    assert.equal(narrowed.body.scope, 'session');
    assert.equal(decodeJwt(narrowed.body.access_token).payload.scope, 'session');

    // The session keeps its full grant: the narrowed refresh's child can ask for all of it again.
    const full = await worker.postForm('/orgs/acme/token', {
      grant_type: 'refresh_token',
      refresh_token: narrowed.body.refresh_token,
    });
    assert.equal(full.body.scope, 'session read:profile');

    const widened = await worker.postForm('/orgs/acme/token', {
      grant_type: 'refresh_token',
      refresh_token: s.refresh_token,
      scope: 'session admin',
    });
    assert.equal(widened.status, 400);
    assert.equal(widened.body.error, 'invalid_scope');
    assert.match(widened.body.error_description, /admin/);
  });

  test('a refresh token of one org is refused by another', async () => {
    await worker.createOrg('globex');
    const s = (await worker.postForm('/orgs/acme/sessions/anonymous', {})).body;
    const res = await worker.postForm('/orgs/globex/token', {
      grant_type: 'refresh_token',
      refresh_token: s.refresh_token,
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_grant');
  });

  test('a tampered refresh token is refused', async () => {
    const s = (await worker.postForm('/orgs/acme/sessions/anonymous', {})).body;
    const t = s.refresh_token;
    const i = t.length - 5;
    const flipped = t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    const res = await worker.postForm('/orgs/acme/token', { grant_type: 'refresh_token', refresh_token: flipped });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_grant');
  });
});

describe('discovery', () => {
  test('metadata is served at the RFC 8414 location and appended to the issuer', async () => {
    const paths = [
      '/.well-known/oauth-authorization-server/orgs/acme',
      '/orgs/acme/.well-known/oauth-authorization-server',
      '/orgs/acme/.well-known/openid-configuration',
    ];
    const docs = [];
    for (const p of paths) {
      const res = await worker.request(p);
      assert.equal(res.status, 200, p);
      assert.match(res.headers.get('cache-control'), /public, max-age=\d+/);
      assert.equal(res.headers.get('access-control-allow-origin'), '*');
      docs.push(res.body);
    }
    assert.deepEqual(docs[1], docs[0]);
    assert.deepEqual(docs[2], docs[0]);
    const m = docs[0];
    const issuer = `${worker.url}/orgs/acme`;
    assert.equal(m.issuer, issuer);
    assert.equal(m.token_endpoint, `${issuer}/token`);
    assert.equal(m.jwks_uri, `${issuer}/.well-known/jwks.json`);
    assert.equal(m.anonymous_session_endpoint, `${issuer}/sessions/anonymous`);
    assert.ok(m.grant_types_supported.includes('refresh_token'));
    // Every advertised endpoint answers.
    assert.equal((await worker.request(new URL(m.jwks_uri).pathname)).status, 200);
    const s = await worker.request(new URL(m.anonymous_session_endpoint).pathname, { method: 'POST' });
    assert.equal(s.status, 200);
  });

  test('JWKS lists only public parts of the signing key and is cacheable', async () => {
    const res = await worker.request('/orgs/acme/.well-known/jwks.json');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('cache-control'), /public, max-age=\d+/);
    assert.equal(res.body.keys.length, 1);
    const [k] = res.body.keys;
    assert.deepEqual(Object.keys(k).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(k.kty, 'OKP');
    assert.equal(k.crv, 'Ed25519');
  });
});
