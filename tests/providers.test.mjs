// Identity providers through the admin API and the CLI: create, read, list, replace, delete;
// validation naming the field; the HS256 secret is write-only and sealed at rest; scopes and org
// isolation; audit entries.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, assertOAuthError, startWorker } from './support/worker.mjs';

let worker;
let ci; // a ci key of acme: providers:read and providers:write
let production;
before(async () => {
  worker = await startWorker();
  await worker.createOrg('acme');
  await worker.createOrg('globex');
  ci = await worker.createKey('acme', { name: 'pipeline', use: 'ci' });
  production = await worker.createKey('acme', { name: 'server', use: 'production' });
});
after(() => worker?.stop());

const google = {
  issuer: 'https://accounts.google.example',
  jwks_uri: 'https://accounts.google.example/certs',
  algorithms: ['RS256'],
  audiences: ['client-123.apps.example'],
  claim_mapping: { email: 'email', name: 'display_name' },
  allowed_scopes: ['orders:read', 'orders:write'],
  default_scopes: ['orders:read'],
};

describe('provider lifecycle', () => {
  test('create (201), read, list, replace (200), delete (204), then 404', async () => {
    const created = await worker.asKey(ci, 'PUT', '/orgs/acme/providers/google', google);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.id, 'google');
    assert.equal(created.body.subject_prefix, 'google|', 'subjects are provider-prefixed by default');
    assert.equal(created.body.leeway_secs, 60);
    assert.equal(created.body.has_hs256_secret, false);

    const got = await worker.asKey(ci, 'GET', '/orgs/acme/providers/google');
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, created.body);
    const listed = await worker.asKey(ci, 'GET', '/orgs/acme/providers');
    assert.deepEqual(listed.body.providers.map((p) => p.id), ['google']);

    const replaced = await worker.asKey(ci, 'PUT', '/orgs/acme/providers/google', { ...google, leeway_secs: 30 });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.equal(replaced.body.leeway_secs, 30);
    assert.equal(replaced.body.created_at, created.body.created_at);

    const deleted = await worker.asKey(ci, 'DELETE', '/orgs/acme/providers/google');
    assert.equal(deleted.status, 204);
    assertOAuthError(await worker.asKey(ci, 'GET', '/orgs/acme/providers/google'), 404, 'not_found');
    assertOAuthError(await worker.asKey(ci, 'DELETE', '/orgs/acme/providers/google'), 404, 'not_found');

    const audit = (await worker.operator('GET', '/orgs/acme/audit')).body.entries.filter((e) => e.target === 'google');
    assert.deepEqual(audit.map((e) => e.action), ['provider.delete', 'provider.update', 'provider.create']);
    assert.ok(audit.every((e) => e.actor === ci.id));
  });

  test('an HS256 secret is write-only, sealed at rest, and kept on a replace without it', async () => {
    const secret = 'shared-secret-'.padEnd(40, 'x');
    const hs = { issuer: 'https://legacy.example', algorithms: ['HS256'], audiences: ['legacy'], hs256_secret: secret };
    const created = await worker.asKey(ci, 'PUT', '/orgs/acme/providers/legacy', hs);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.has_hs256_secret, true);
    const { hs256_secret, ...withoutSecret } = hs;
    const replaced = await worker.asKey(ci, 'PUT', '/orgs/acme/providers/legacy', { ...withoutSecret, leeway_secs: 10 });
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.equal(replaced.body.has_hs256_secret, true, 'the stored secret is kept');
    for (const res of [created, replaced, await worker.asKey(ci, 'GET', '/orgs/acme/providers'), await worker.operator('GET', '/orgs/acme/audit')]) {
      assert.ok(!JSON.stringify(res.body).includes(secret), 'the secret is never shown');
    }
    assertOAuthError(
      await worker.asKey(ci, 'PUT', '/orgs/acme/providers/new-hs', withoutSecret),
      400, 'invalid_request', /^hs256_secret: required/,
    );
  });
});

describe('validation and authorization', () => {
  for (const [name, patch, fieldRe] of [
    ['a plain-http issuer', { issuer: 'http://accounts.example' }, /^issuer/],
    ['no key source', { jwks_uri: undefined }, /^jwks_uri/],
    ['alg none', { algorithms: ['none'] }, /^algorithms/],
    ['no audiences', { audiences: [] }, /^audiences/],
    ['a reserved claim mapped', { claim_mapping: { email: 'sub' } }, /^claim_mapping: sub/],
    ['a default scope not allowed', { default_scopes: ['admin'] }, /^default_scopes: admin/],
    ['leeway over 300 s', { leeway_secs: 900 }, /^leeway_secs/],
    ['an unknown field', { colour: 'red' }, /unknown field/],
  ]) {
    test(`400 naming the field: ${name}`, async () => {
      const body = { ...google, ...patch };
      for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
      assertOAuthError(await worker.asKey(ci, 'PUT', '/orgs/acme/providers/bad', body), 400, 'invalid_request', fieldRe);
    });
  }

  test('a provider id out of [a-z0-9-] is not a route (404)', async () => {
    assertOAuthError(await worker.asKey(ci, 'PUT', '/orgs/acme/providers/Bad_Id', google), 404, 'not_found');
  });

  test('scopes: production cannot read or write providers; another org is 404', async () => {
    assertOAuthError(await worker.asKey(production, 'GET', '/orgs/acme/providers'), 403, 'insufficient_scope', /providers:read/);
    assertOAuthError(await worker.asKey(production, 'PUT', '/orgs/acme/providers/p', google), 403, 'insufficient_scope', /providers:write/);
    assertOAuthError(await worker.asKey(ci, 'GET', '/orgs/globex/providers'), 404, 'not_found');
    assertOAuthError(await worker.asKey(ci, 'PUT', '/orgs/globex/providers/p', google), 404, 'not_found');
    assert.equal((await worker.operator('GET', '/orgs/globex/providers')).body.providers.length, 0);
  });
});

describe('providers through the CLI', () => {
  test('put from a file, list as a table, get as JSON, delete', () => {
    const tx = (args) => spawnSync(join(ROOT, 'target', 'debug', 'tx'), args, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, TX_URL: worker.url, TX_ORG: 'acme', TX_KEY_ID: ci.id, TX_KEY_SECRET: ci.secret },
    });
    const dir = mkdtempSync(join(tmpdir(), 'tx-provider-'));
    writeFileSync(join(dir, 'corp.json'), JSON.stringify({ ...google, issuer: 'https://sso.corp.example' }));
    let r = tx(['providers', 'create', '--id', 'corp', '--file', join(dir, 'corp.json')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /saved provider corp \(https:\/\/sso\.corp\.example\)/);
    r = tx(['providers', 'list']);
    assert.match(r.stdout, /^ID\s+ISSUER\s+ALGORITHMS\s+SCOPES\s+UPDATED$/m);
    assert.match(r.stdout, /^corp\s+https:\/\/sso\.corp\.example\s+RS256\s+orders:read orders:write/m);
    r = tx(['providers', 'get', '--id', 'corp']);
    assert.equal(JSON.parse(r.stdout).subject_prefix, 'corp|');
    r = tx(['providers', 'delete', '--id', 'corp']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /deleted provider corp/);
    r = tx(['providers', 'get', '--id', 'corp']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /404 not_found/);
  });
});
