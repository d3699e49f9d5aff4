// Token exchange (RFC 8693) through the built worker, per docs-exchange-spec.md. Upstream tokens come
// from fake identity providers (tests/support/idp.mjs) serving real JWKS over HTTP; every issued token
// is verified with npm `jose` from the org's published metadata alone. Covered: each algorithm
// (RS256, ES256, EdDSA from a JWKS, HS256 from a shared secret), the response, refresh, every check on
// the subject token, scopes and targets, actor tokens (anonymous upgrade, delegation), upstream key
// caching, rotation, the unknown-kid refetch cooldown, an unreachable provider, discovery, and one
// exchange by an OAuth client library nobody here wrote (openid-client).
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { SignJWT, createRemoteJWKSet, importJWK, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { startIdp } from './support/idp.mjs';
import { assertOAuthError, decodeJwt, startWorker } from './support/worker.mjs';

const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TT = {
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  id_token: 'urn:ietf:params:oauth:token-type:id_token',
  access_token: 'urn:ietf:params:oauth:token-type:access_token',
  refresh_token: 'urn:ietf:params:oauth:token-type:refresh_token',
};
const RESPONSE_MEMBERS = [
  'access_token', 'expires_in', 'issued_token_type', 'refresh_token', 'scope', 'session_id', 'subject', 'token_type',
];
const TTL = 900; // acme's access_token_ttl_secs
const ORG_AUDIENCE = 'acme-app'; // acme's token audience
const API = 'api.acme';
const RESOURCE = 'https://api.acme.example/orders';

const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const auds = (payload) => [payload.aud].flat();
const scopes = (s) => s.split(' ').sort();

let worker;
let acmeSigningKey; // acme's signing key creation response, with its private_jwk
const started = [];
/** A fake IdP, stopped with the file. */
async function idpFor(opts) {
  const idp = await startIdp(opts);
  started.push(idp);
  return idp;
}
let corp; // RS256 + ES256 + EdDSA from a JWKS; mapped claims, scopes, targets, a maximum age
let legacy; // HS256 with a shared secret; custom subject prefix; no allowed_audiences
let rsaOnly; // holds keys of every kind, but its provider allows RS256 only

async function putProvider(id, body, org = 'acme') {
  const res = await worker.operator('PUT', `/orgs/${org}/providers/${id}`, body);
  assert.ok(res.status === 201 || res.status === 200, `provider ${id}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

before(async () => {
  worker = await startWorker();
  acmeSigningKey = await worker.createOrg('acme', { name: 'Acme', audiences: [ORG_AUDIENCE], access_token_ttl_secs: TTL });
  await worker.createOrg('globex');
  [corp, legacy, rsaOnly] = await Promise.all([
    idpFor({ maxAge: 600 }), idpFor({ algorithms: ['HS256'] }), idpFor({ maxAge: 600 }),
  ]);
  await putProvider('corp', corp.provider({
    claim_mapping: { email: 'email', name: 'display_name', groups: 'groups' },
    allowed_scopes: ['orders:read', 'orders:write', 'profile'],
    default_scopes: ['orders:read'],
    allowed_audiences: [API, RESOURCE],
    max_token_age_secs: 3600,
  }));
  await putProvider('legacy', legacy.provider({
    subject_prefix: 'legacy:',
    claim_mapping: { email: 'email' },
    allowed_scopes: ['orders:read'],
    default_scopes: ['orders:read'],
  }));
  await putProvider('rsa-only', rsaOnly.provider({ algorithms: ['RS256'], allowed_scopes: ['basic'], default_scopes: ['basic'] }));
});
after(async () => {
  await worker?.stop();
  await Promise.all(started.map((idp) => idp.stop()));
});

/** The token-exchange grant at `org`'s token endpoint (form, or JSON with `json`); undefined drops. */
function exchange(params, { org = 'acme', json = false, signal } = {}) {
  const body = { grant_type: GRANT, subject_token_type: TT.jwt, ...params };
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const path = `/orgs/${org}/token`;
  if (json) return worker.postJson(path, body);
  if (!signal) return worker.postForm(path, body);
  return worker.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
    signal,
  });
}

const refresh = (refresh_token, extra = {}, org = 'acme') =>
  worker.postForm(`/orgs/${org}/token`, { grant_type: 'refresh_token', refresh_token, ...extra });

/**
 * Verifies an issued access token as a third party would: the org's metadata (appended to the
 * issuer), its jwks_uri, then jose with the issuer, an audience, EdDSA and typ at+jwt.
 */
async function verifyIssued(token, { org = 'acme', audience = ORG_AUDIENCE } = {}) {
  const meta = await worker.request(`/orgs/${org}/.well-known/oauth-authorization-server`);
  assert.equal(meta.status, 200, JSON.stringify(meta.body));
  const jwks = createRemoteJWKSet(new URL(meta.body.jwks_uri));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: meta.body.issuer,
    audience,
    algorithms: ['EdDSA'],
    typ: 'at+jwt',
  });
  assert.deepEqual(Object.keys(protectedHeader).sort(), ['alg', 'kid', 'typ']);
  if (org === 'acme') assert.equal(protectedHeader.kid, acmeSigningKey.kid, "signed by the org's signing key");
  assert.equal(payload.iss, `${worker.url}/orgs/${org}`);
  return payload;
}

/**
 * Asserts a successful exchange response (RFC 8693 §2.2.1) and verifies its access token;
 * returns { body, payload }.
 */
async function issued(res, { audience = ORG_AUDIENCE, clientId = 'public' } = {}) {
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const body = res.body;
  assert.deepEqual(Object.keys(body).sort(), RESPONSE_MEMBERS, JSON.stringify(body));
  assert.equal(body.issued_token_type, TT.access_token);
  assert.equal(body.token_type, 'Bearer');
  assert.equal(body.expires_in, TTL);
  assert.equal(typeof body.refresh_token, 'string');
  assert.ok(body.refresh_token.length > 20);
  assert.match(body.session_id, /^sid_[A-Za-z0-9_-]+$/);
  const payload = await verifyIssued(body.access_token, { audience });
  assert.equal(payload.sub, body.subject);
  assert.equal(payload.sid, body.session_id);
  assert.equal(payload.scope, body.scope);
  assert.equal(payload.client_id, clientId);
  assert.equal(payload.exp - payload.iat, TTL);
  assert.ok(Math.abs(payload.iat - now()) < 30, `iat ${payload.iat}`);
  assert.equal(typeof payload.jti, 'string');
  assert.ok(payload.jti.length >= 16);
  assert.ok(!('anonymous' in payload), 'an exchanged token is never anonymous');
  return { body, payload };
}

/** An access token signed with acme's own signing key, as the worker would issue it. */
async function forgeAcmeToken(claims = {}, header = {}) {
  const key = await importJWK({ ...acmeSigningKey.private_jwk }, 'EdDSA');
  const t = now();
  const payload = {
    iss: `${worker.url}/orgs/acme`, sub: 'svc-batch', aud: ORG_AUDIENCE, iat: t, exp: t + 300,
    jti: randomUUID(), client_id: 'public', scope: 'orders:read', sid: `sid_${randomBytes(16).toString('base64url')}`,
    ...claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: acmeSigningKey.kid, ...header }).sign(key);
}

/** Runs an assertion, prefixing its failure message with `what` (for loops over cases). */
function labelled(what, assertion) {
  try {
    assertion();
  } catch (e) {
    e.message = `${what}: ${e.message}`;
    throw e;
  }
}

async function anonymousSession(org = 'acme') {
  const res = await worker.postForm(`/orgs/${org}/sessions/anonymous`, {});
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

describe('a successful exchange', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA']) {
    test(`${alg}: a JWKS provider's token becomes an org token with the mapped claims`, async () => {
      const upstream = corp.mint({
        alg,
        claims: { sub: `user-${alg}`, email: 'ada@corp.example', name: 'Ada', anonymous: true, internal: 'not mapped' },
      });
      assert.equal(decodeJwt(upstream).header.kid, corp.kidFor(alg));
      const { body, payload } = await issued(await exchange({ subject_token: upstream }));
      assert.equal(body.subject, `corp|user-${alg}`, 'default prefix: the provider id and |');
      assert.equal(payload.idp, 'corp');
      assert.equal(body.scope, 'orders:read', "the provider's default scopes");
      assert.deepEqual(auds(payload), [ORG_AUDIENCE], "no target asked for: the org's audiences");
      assert.equal(payload.email, 'ada@corp.example');
      assert.equal(payload.display_name, 'Ada');
      for (const absent of ['name', 'groups', 'internal', 'act', 'anonymous_sub', 'nbf']) {
        assert.ok(!(absent in payload), `${absent} is not in the issued token`);
      }
    });
  }

  test('HS256: a shared-secret provider, its subject prefix and mapping', async () => {
    const upstream = legacy.mint({ alg: 'HS256', claims: { sub: 'u-9', email: 'bob@legacy.example', name: 'Bob' } });
    const { body, payload } = await issued(await exchange({ subject_token: upstream }));
    assert.equal(body.subject, 'legacy:u-9');
    assert.equal(payload.idp, 'legacy');
    assert.equal(payload.email, 'bob@legacy.example');
    assert.ok(!('name' in payload) && !('display_name' in payload));
    assert.equal(body.scope, 'orders:read');
  });

  test('id_token type, JSON body, no kid, aud as an array, explicit requested_token_type, client_id', async () => {
    const upstream = corp.mint({ alg: 'ES256', header: { kid: undefined }, claims: { aud: ['another-client', corp.clientId] } });
    const res = await exchange({
      subject_token: upstream, subject_token_type: TT.id_token, requested_token_type: TT.access_token,
      client_id: 'mobile-app.v2:ios_1',
    }, { json: true });
    const { payload } = await issued(res, { clientId: 'mobile-app.v2:ios_1' });
    assert.equal(payload.sub, 'corp|alice');
  });

  test("clock leeway: exp just past, nbf and iat just ahead are within the provider's 60 s", async () => {
    const t = now();
    await issued(await exchange({ subject_token: corp.mint({ claims: { iat: t - 100, exp: t - 20 } }) }));
    await issued(await exchange({ subject_token: corp.mint({ alg: 'EdDSA', claims: { iat: t + 20, nbf: t + 20 } }) }));
  });

  test('known kids are served from the cached JWKS (fetched once)', async () => {
    for (const alg of ['RS256', 'ES256', 'EdDSA', 'RS256']) await issued(await exchange({ subject_token: corp.mint({ alg }) }));
    assert.equal(corp.jwksRequests, 1, 'every exchange with corp so far used one fetch of its JWKS');
  });

  test('a JWKS max-age of 0 is clamped up to 60 s, none means 300 s: no refetch between exchanges', async () => {
    for (const [id, maxAge] of [['max-age-0', 0], ['no-max-age', null]]) {
      const p = await idpFor({ algorithms: ['EdDSA'], maxAge });
      await putProvider(id, p.provider());
      await issued(await exchange({ subject_token: p.mint({ alg: 'EdDSA' }) }));
      await issued(await exchange({ subject_token: p.mint({ alg: 'EdDSA' }) }));
      assert.equal(p.jwksRequests, 1, id);
    }
  });

  test('an inline JWKS needs no fetch', async () => {
    const inline = await idpFor({ algorithms: ['ES256', 'EdDSA'] });
    await putProvider('inline', inline.provider({ jwks_uri: undefined, jwks: inline.jwks() }));
    const { payload } = await issued(await exchange({ subject_token: inline.mint({ alg: 'EdDSA', claims: { sub: 'x' } }) }));
    assert.equal(payload.sub, 'inline|x');
    assert.equal(payload.idp, 'inline');
    assert.equal(inline.jwksRequests, 0);
  });
});

describe('refresh of an exchanged session', () => {
  test('keeps sub, sid, idp, mapped claims, aud and scope; rotates; may narrow, never widen', async () => {
    const upstream = corp.mint({ alg: 'EdDSA', claims: { sub: 'carol', email: 'carol@corp.example', groups: ['ops', 'dev'] } });
    const first = await issued(
      await exchange({ subject_token: upstream, scope: 'orders:read orders:write', audience: API, client_id: 'web' }),
      { audience: API, clientId: 'web' },
    );
    assert.deepEqual(first.payload.groups, ['ops', 'dev']);

    const res = await refresh(first.body.refresh_token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.body.subject, first.body.subject);
    assert.equal(res.body.session_id, first.body.session_id);
    assert.notEqual(res.body.refresh_token, first.body.refresh_token);
    assert.notEqual(res.body.access_token, first.body.access_token);
    const p = await verifyIssued(res.body.access_token, { audience: API });
    for (const claim of ['sub', 'sid', 'idp', 'email', 'groups', 'aud', 'scope']) {
      assert.deepEqual(p[claim], first.payload[claim], claim);
    }
    assert.notEqual(p.jti, first.payload.jti);
    assert.ok(!('anonymous' in p));

    const narrowed = await refresh(res.body.refresh_token, { scope: 'orders:read' });
    assert.equal(narrowed.status, 200, JSON.stringify(narrowed.body));
    assert.equal(narrowed.body.scope, 'orders:read');
    assert.equal((await verifyIssued(narrowed.body.access_token, { audience: API })).sub, 'corp|carol');
    assertOAuthError(await refresh(narrowed.body.refresh_token, { scope: 'orders:read profile' }), 400, 'invalid_scope', /profile/);
  });

  test("the session follows its provider: scope cut to today's allowed_scopes; provider deleted → invalid_grant", async () => {
    const tmp = await idpFor({ algorithms: ['RS256'] });
    const settings = (allowed) => tmp.provider({ allowed_scopes: allowed, default_scopes: allowed });
    await putProvider('tmp', settings(['a', 'b']));
    const first = await issued(await exchange({ subject_token: tmp.mint() }));
    assert.deepEqual(scopes(first.body.scope), ['a', 'b']);

    await putProvider('tmp', settings(['a']));
    const cut = await refresh(first.body.refresh_token);
    assert.equal(cut.status, 200, JSON.stringify(cut.body));
    assert.equal(cut.body.scope, 'a');
    assert.equal((await verifyIssued(cut.body.access_token)).scope, 'a');

    const del = await worker.operator('DELETE', '/orgs/acme/providers/tmp');
    assert.equal(del.status, 204, JSON.stringify(del.body));
    assertOAuthError(await refresh(cut.body.refresh_token), 400, 'invalid_grant');
  });
});

describe('checks on the subject token: 400 invalid_request naming the check', () => {
  const t = now();
  // Each: [what, () => subject token, description, org]
  const cases = [
    ['from an issuer no provider has', () => corp.mint({ claims: { iss: 'https://evil.example' } }), /^subject_token: issuer not accepted by this org/],
    ["from a provider of another org", () => corp.mint(), /^subject_token: issuer not accepted by this org/, 'globex'],
    ['for another audience', () => corp.mint({ claims: { aud: 'someone-else' } }), /^subject_token rejected: token is not for this audience/],
    ['for other audiences (an array)', () => corp.mint({ claims: { aud: ['a', 'b'] } }), /^subject_token rejected: token is not for this audience/],
    ['expired', () => corp.mint({ claims: { iat: t - 600, exp: t - 300 } }), /^subject_token rejected: token has expired/],
    ['not yet valid (nbf)', () => corp.mint({ claims: { nbf: t + 600 } }), /^subject_token rejected: token is not yet valid/],
    ['issued in the future', () => corp.mint({ claims: { iat: t + 600, exp: t + 900 } }), /^subject_token rejected: token is issued in the future/],
    ['older than max_token_age_secs', () => corp.mint({ claims: { iat: t - 7200, exp: t + 300 } }), /^subject_token rejected: token is older than the maximum age/],
    ['without iat, the provider having a maximum age', () => corp.mint({ claims: { iat: undefined } }), /^subject_token rejected: /],
    ['without exp', () => corp.mint({ claims: { exp: undefined } }), /^subject_token rejected: /],
    ['without sub', () => corp.mint({ claims: { sub: undefined } }), /^subject_token rejected: /],
    ['with an empty sub', () => corp.mint({ claims: { sub: '' } }), /^subject_token rejected: /],
    ['with a sub over 256 bytes', () => corp.mint({ claims: { sub: 'x'.repeat(257) } }), /^subject_token rejected: /],
    ['with a sub that is not a string', () => corp.mint({ claims: { sub: 42 } }), /^subject_token rejected: /],
    ['with a tampered payload', () => corp.tamper(corp.mint({ claims: { sub: 'eve' } }), { sub: 'admin' }), /^subject_token rejected: signature does not verify/],
    ['signed by a stranger under a known kid', () => rsaOnly.mint({ claims: { iss: corp.issuer, aud: corp.clientId }, header: { kid: corp.kidFor('RS256') } }), /^subject_token rejected: signature does not verify/],
    ['ES256 under the kid of an RSA key', () => corp.mint({ alg: 'ES256', header: { kid: corp.kidFor('RS256') } }), /^subject_token rejected: /],
    // `none` with its empty signature may already fail the strict compact form; with a signature
    // part it reaches the algorithm check.
    ['with alg none', () => corp.unsigned(), /^subject_token rejected: /],
    ['with alg none and a signature part', () => `${corp.unsigned({ header: { kid: corp.kidFor('RS256') } })}c2ln`, /^subject_token rejected: (alg is not allowed|unsupported alg)/],
    ['HS256 keyed with the RSA public key, to an RS256 provider (algorithm confusion)', () => rsaOnly.confusion(), /^subject_token rejected: alg is not allowed/],
    ['the same with the DER bytes', () => rsaOnly.confusion({ format: 'der' }), /^subject_token rejected: alg is not allowed/],
    ['ES256 to a provider allowing only RS256', () => rsaOnly.mint({ alg: 'ES256' }), /^subject_token rejected: alg is not allowed/],
    ['with an unknown alg', () => corp.mint({ header: { alg: 'PS256' } }), /^subject_token rejected: (alg is not allowed|unsupported alg)/],
    ['with an unknown crit', () => corp.mint({ header: { crit: ['x-ext'], 'x-ext': 1 } }), /^subject_token rejected: /],
    ['with duplicate members', () => corp.mint({ payload: `{"iss":"${corp.issuer}","aud":"${corp.clientId}","sub":"a","sub":"admin","iat":${t},"exp":${t + 300}}` }), /^subject_token rejected: /],
    ['over 8 KiB, validly signed', () => corp.oversize(), /^subject_token rejected: token is too large/],
    ['over 8 KiB of garbage (checked before decoding)', () => 'x'.repeat(8 * 1024 + 1), /^subject_token rejected: token is too large/],
    ['not a JWS', () => 'not-a-jwt', /^subject_token/],
    ['two parts', () => corp.mint().split('.').slice(0, 2).join('.'), /^subject_token/],
    ['four parts', () => `${corp.mint()}.e30`, /^subject_token/],
    ['a JSON array as header', () => `${Buffer.from('[]').toString('base64url')}.e30.c2ln`, /^subject_token/],
  ];
  for (const [what, token, description, org] of cases) {
    test(what, async () => {
      assertOAuthError(await exchange({ subject_token: token() }, { org }), 400, 'invalid_request', description);
    });
  }
});

describe('parameters', () => {
  test('token types, missing parameters, and actor_token without its type: invalid_request', async () => {
    const subject_token = corp.mint();
    const actor = (await anonymousSession()).access_token;
    for (const [params, description] of [
      [{ subject_token, subject_token_type: TT.access_token }, /subject_token_type/],
      [{ subject_token, subject_token_type: 'urn:example:saml' }, /subject_token_type/],
      [{ subject_token, subject_token_type: undefined }, /subject_token_type/],
      [{ subject_token: undefined }, /subject_token/],
      [{ subject_token, requested_token_type: TT.refresh_token }, /requested_token_type/],
      [{ subject_token, requested_token_type: TT.id_token }, /requested_token_type/],
      [{ subject_token, actor_token: actor }, /actor_token/],
      [{ subject_token, actor_token_type: TT.access_token }, /actor_token/],
      [{ subject_token, actor_token: actor, actor_token_type: TT.id_token }, /actor_token_type/],
      [{ subject_token, client_id: 'has spaces!' }, /client_id/],
      [{ subject_token, client_id: 'x'.repeat(129) }, /client_id/],
    ]) {
      const res = await exchange(params);
      const what = Object.entries(params).filter(([k]) => k !== 'subject_token').map(([k, v]) => `${k}=${String(v).slice(0, 40)}`);
      labelled(what.join(' ') || 'no subject_token', () => assertOAuthError(res, 400, 'invalid_request', description));
    }
  });

  test("scope: the provider's defaults, any subset, and escalation refused naming the scope", async () => {
    const { body } = await issued(await exchange({ subject_token: corp.mint() }));
    assert.equal(body.scope, 'orders:read');
    const subset = await issued(await exchange({ subject_token: corp.mint(), scope: 'profile orders:write' }));
    assert.deepEqual(scopes(subset.body.scope), ['orders:write', 'profile']);
    assertOAuthError(await exchange({ subject_token: corp.mint(), scope: 'orders:read admin' }), 400, 'invalid_scope', /admin/);
    assertOAuthError(
      await exchange({ subject_token: legacy.mint({ alg: 'HS256' }), scope: 'orders:write' }),
      400, 'invalid_scope', /orders:write/,
    );
  });

  test('targets: audience and resource must be allowed; aud is what was asked, audience first', async () => {
    const aud = async (params, provider = corp, alg = 'RS256') => {
      const res = await exchange({ subject_token: provider.mint({ alg }), ...params });
      const expected = [params.audience, params.resource].filter(Boolean);
      return auds((await issued(res, { audience: expected[0] })).payload);
    };
    assert.deepEqual(await aud({ audience: API }), [API]);
    assert.deepEqual(await aud({ resource: RESOURCE }), [RESOURCE]);
    assert.deepEqual(await aud({ audience: API, resource: RESOURCE }), [API, RESOURCE]);
    for (const params of [
      { audience: 'api.other' },
      { resource: 'https://evil.example/orders' },
      { audience: API, resource: 'https://evil.example/orders' },
      { audience: ORG_AUDIENCE }, // allowed_audiences is set: the org's audiences are not implied
    ]) {
      const res = await exchange({ subject_token: corp.mint(), ...params });
      labelled(JSON.stringify(params), () => assertOAuthError(res, 400, 'invalid_target'));
    }
    // legacy has no allowed_audiences: the org's token audiences are the allowed targets.
    assert.deepEqual(await aud({ audience: ORG_AUDIENCE }, legacy, 'HS256'), [ORG_AUDIENCE]);
    assertOAuthError(await exchange({ subject_token: legacy.mint({ alg: 'HS256' }), audience: API }), 400, 'invalid_target');
  });
});

describe('actor tokens', () => {
  test('a revoked anonymous session cannot be upgraded: its token is checked in its shard', async () => {
    const anon = await anonymousSession();
    const revoked = await worker.postForm('/orgs/acme/revoke', { token: anon.refresh_token });
    assert.equal(revoked.status, 200);
    const res = await exchange({
      subject_token: corp.mint({ claims: { sub: 'late-upgrader' } }),
      actor_token: anon.access_token, actor_token_type: TT.access_token,
    });
    assertOAuthError(res, 400, 'invalid_request', /^actor_token rejected: the token has been revoked/);
  });

  test('an anonymous session as actor_token: an upgrade carrying anonymous_sub, kept on refresh', async () => {
    const anon = await anonymousSession();
    assert.equal(decodeJwt(anon.access_token).payload.anonymous, true);
    const res = await exchange({
      subject_token: corp.mint({ claims: { sub: 'upgrader', email: 'u@corp.example' } }),
      actor_token: anon.access_token, actor_token_type: TT.access_token,
    });
    const { body, payload } = await issued(res);
    assert.equal(payload.sub, 'corp|upgrader');
    assert.equal(payload.anonymous_sub, anon.subject);
    assert.notEqual(body.session_id, anon.session_id, 'a new session');
    assert.ok(!('act' in payload), 'an upgrade is not a delegation');
    assert.equal(payload.email, 'u@corp.example');

    const r = await refresh(body.refresh_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = await verifyIssued(r.body.access_token);
    assert.equal(p.anonymous_sub, anon.subject);
    assert.equal(p.sub, 'corp|upgrader');
    assert.ok(!('anonymous' in p) && !('act' in p));
  });

  test('an exchanged token as actor_token: delegation with act.sub, nested act.act, kept on refresh', async () => {
    const service = await issued(await exchange({ subject_token: corp.mint({ claims: { sub: 'service-a' } }) }));
    const delegated = await issued(await exchange({
      subject_token: corp.mint({ alg: 'ES256', claims: { sub: 'user-b' } }),
      actor_token: service.body.access_token, actor_token_type: TT.jwt,
    }));
    assert.equal(delegated.payload.sub, 'corp|user-b');
    assert.deepEqual(delegated.payload.act, { sub: 'corp|service-a' });
    assert.ok(!('anonymous_sub' in delegated.payload));

    const chained = await issued(await exchange({
      subject_token: legacy.mint({ alg: 'HS256', claims: { sub: 'user-c' } }),
      actor_token: delegated.body.access_token, actor_token_type: TT.access_token,
    }));
    assert.equal(chained.payload.sub, 'legacy:user-c');
    assert.deepEqual(chained.payload.act, { sub: 'corp|user-b', act: { sub: 'corp|service-a' } });

    const r = await refresh(delegated.body.refresh_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual((await verifyIssued(r.body.access_token)).act, { sub: 'corp|service-a' });
  });

  test('an actor token must be an unexpired at+jwt of this org, signed by its key', async () => {
    const subject_token = () => corp.mint({ claims: { sub: 'dave' } });
    // Control: a token signed with acme's signing key as the worker would issue it is accepted.
    const ok = await issued(await exchange({ subject_token: subject_token(), actor_token: await forgeAcmeToken(), actor_token_type: TT.access_token }));
    assert.deepEqual(ok.payload.act, { sub: 'svc-batch' });

    const globexAnon = (await anonymousSession('globex')).access_token;
    const acmeSession = await anonymousSession();
    const t = now();
    for (const [what, actor] of [
      ['an upstream token', corp.mint()],
      ["another org's token", globexAnon],
      ['typ JWT instead of at+jwt', await forgeAcmeToken({}, { typ: 'JWT' })],
      ['expired', await forgeAcmeToken({ iat: t - 900, exp: t - 600 })],
      ['another issuer', await forgeAcmeToken({ iss: `${worker.url}/orgs/globex` })],
      ['tampered', corp.tamper(acmeSession.access_token, { sub: 'anon_someone-else' })],
      ['a refresh token', acmeSession.refresh_token],
      ['garbage', 'not-a-token'],
    ]) {
      const res = await exchange({ subject_token: subject_token(), actor_token: actor, actor_token_type: TT.access_token });
      labelled(what, () => assertOAuthError(res, 400, 'invalid_request', /actor_token/));
    }
  });
});

describe('upstream keys', { concurrency: true }, () => {
  test('an unknown kid refetches once: a rotation is picked up; a flood refetches at most once per 10 s', { timeout: 40_000 }, async () => {
    const rot = await idpFor({ algorithms: ['RS256'], maxAge: 600 });
    await putProvider('rot', rot.provider());
    await issued(await exchange({ subject_token: rot.mint() }));
    assert.equal(rot.jwksRequests, 1);

    // A flood of random kids, all at once: refused, and at most one refetch between them.
    const flood = await Promise.all(Array.from({ length: 20 }, () =>
      exchange({ subject_token: rot.mint({ header: { kid: `random-${randomBytes(6).toString('hex')}` } }) })));
    for (const res of flood) assertOAuthError(res, 400, 'invalid_request', /^subject_token rejected: no key is known for this kid/);
    assert.ok(rot.jwksRequests <= 2, `${rot.jwksRequests - 1} refetches for the flood`);
    const afterFlood = rot.jwksRequests;

    // The provider rotates. Within the cooldown its new kid cannot be fetched yet.
    const newKid = await rot.rotate('RS256', { dropOld: true });
    assertOAuthError(
      await exchange({ subject_token: rot.mint({ kid: newKid }) }),
      400, 'invalid_request', /^subject_token rejected: no key is known for this kid/,
    );
    assert.equal(rot.jwksRequests, afterFlood, 'no refetch within the cooldown');
    await sleep(10_500);

    // After it, one refetch picks up the new key; the worker was not restarted.
    const { payload } = await issued(await exchange({ subject_token: rot.mint({ kid: newKid, claims: { sub: 'after-rotation' } }) }));
    assert.equal(payload.sub, 'rot|after-rotation');
    assert.equal(rot.jwksRequests, afterFlood + 1);
    await issued(await exchange({ subject_token: rot.mint({ kid: newKid }) }));
    assert.equal(rot.jwksRequests, afterFlood + 1, 'and then it is cached');
  });

  test('keys unavailable (500, garbage, hang past 5 s) → 503 temporarily_unavailable within 10 s; recovery', { timeout: 40_000 }, async () => {
    const modes = ['error', 'garbage', 'hang'];
    const idps = await Promise.all(modes.map(() => idpFor({ algorithms: ['ES256'], hangMs: 15_000 })));
    await Promise.all(modes.map((mode, i) => {
      idps[i].setMode(mode);
      return putProvider(`down-${mode}`, idps[i].provider());
    }));
    const results = await Promise.all(modes.map(async (mode, i) => {
      const t0 = Date.now();
      const res = await exchange({ subject_token: idps[i].mint({ alg: 'ES256' }) }, { signal: AbortSignal.timeout(20_000) });
      return { mode, res, ms: Date.now() - t0, at: Date.now() };
    }));
    for (const { mode, res, ms } of results) {
      assertOAuthError(res, 503, 'temporarily_unavailable', new RegExp(`^identity provider down-${mode}: keys unavailable`));
      assert.ok(ms < 10_000, `${mode}: answered after ${ms} ms`);
    }
    assert.ok(idps.every((idp) => idp.jwksRequests >= 1), 'each provider was asked');

    // Nothing was cached from the failures: once the provider serves its keys, exchanges work
    // (given the 10 s a worker may wait before asking a provider again; the spec sets no limit).
    await sleep(Math.max(0, results[0].at + 10_500 - Date.now()));
    idps[0].setMode('ok');
    const { payload } = await issued(await exchange({ subject_token: idps[0].mint({ alg: 'ES256', claims: { sub: 'back' } }) }));
    assert.equal(payload.sub, 'down-error|back');
  });
});

describe('discovery', () => {
  test('every metadata location lists the token-exchange grant', async () => {
    for (const path of [
      '/.well-known/oauth-authorization-server/orgs/acme',
      '/orgs/acme/.well-known/oauth-authorization-server',
      '/orgs/acme/.well-known/openid-configuration',
    ]) {
      const res = await worker.request(path);
      assert.equal(res.status, 200, path);
      assert.ok(res.body.grant_types_supported.includes(GRANT), `${path}: ${JSON.stringify(res.body.grant_types_supported)}`);
      assert.ok(res.body.grant_types_supported.includes('refresh_token'), path);
    }
  });
});

describe('an OAuth client library nobody here wrote (openid-client)', () => {
  test('discovers the org issuer and exchanges a token with genericGrantRequest; jose verifies it', async () => {
    const issuer = new URL(`${worker.url}/orgs/acme`);
    const config = await oidc.discovery(issuer, 'openid-client-test', undefined, oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, issuer.href);
    assert.ok(meta.grant_types_supported.includes(GRANT));

    const subject_token = corp.mint({ alg: 'EdDSA', claims: { sub: 'oc-user', email: 'oc@corp.example' } });
    const tokens = await oidc.genericGrantRequest(config, GRANT, {
      subject_token, subject_token_type: TT.jwt, scope: 'orders:read orders:write', audience: API,
    });
    assert.equal(tokens.issued_token_type, TT.access_token);
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    // expiresIn() counts down from when the response arrived: allow the second it may have ticked.
    assert.ok(TTL - tokens.expiresIn() <= 1, `expiresIn ${tokens.expiresIn()}`);
    assert.ok(tokens.refresh_token);

    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(meta.jwks_uri)), {
      issuer: meta.issuer, audience: API, algorithms: ['EdDSA'], typ: 'at+jwt',
    });
    assert.equal(payload.sub, 'corp|oc-user');
    assert.equal(payload.idp, 'corp');
    assert.equal(payload.email, 'oc@corp.example');
    assert.equal(payload.client_id, 'openid-client-test');
    assert.deepEqual(scopes(payload.scope), ['orders:read', 'orders:write']);

    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token);
    const again = await jwtVerify(refreshed.access_token, createRemoteJWKSet(new URL(meta.jwks_uri)), {
      issuer: meta.issuer, audience: API, algorithms: ['EdDSA'], typ: 'at+jwt',
    });
    assert.equal(again.payload.sub, 'corp|oc-user');
    assert.equal(again.payload.sid, payload.sid);
  });
});
