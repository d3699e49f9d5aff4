// The `tx` CLI against the built worker: the whole key lifecycle as an operator and as an org
// admin, tables and --json, locally minted tokens, rotation, the audit log, and exit codes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { ROOT, freePort, startWorker } from './support/worker.mjs';

const TX = join(ROOT, 'target', 'debug', 'tx');

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

/** Runs tx with only the given credential variables (nothing inherited that could leak in). */
function tx(args, env = {}) {
  const r = spawnSync(TX, args, {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, TX_URL: worker.url, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const asOperator = () => ({ TX_OPERATOR_TOKEN: worker.operatorToken });
const asKey = (key, org) => ({ TX_KEY_ID: key.id, TX_KEY_SECRET: key.secret, TX_ORG: org });
const ok = (r) => {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r.out;
};

describe('the key lifecycle through the CLI', () => {
  let adminKey;

  test('the operator creates an org and its first admin key', () => {
    ok(tx(['orgs', 'create', 'cli-org', '--name', 'CLI Org'], asOperator()));
    ok(tx(['--org', 'cli-org', 'signing-keys', 'create'], asOperator()));
    const created = JSON.parse(ok(tx(['--org', 'cli-org', '--json', 'keys', 'create', '--name', 'first admin', '--use', 'admin'], asOperator())));
    assert.match(created.id, /^key_/);
    assert.match(created.secret, /^sec_/);
    adminKey = created;
  });

  test('an admin key creates a production key; the secret is printed once, with how to use it', () => {
    const out = ok(tx(['keys', 'create', '--name', 'web server', '--use', 'production'], asKey(adminKey, 'cli-org')));
    const id = out.match(/created key (key_\S+)/)[1];
    const secret = out.match(/\b(sec_[A-Za-z0-9_-]{43})\b/)[1];
    assert.match(out, /shown this once/);
    assert.match(out, new RegExp(`export TX_KEY_ID=${id} TX_KEY_SECRET=${secret}`));

    const list = ok(tx(['keys', 'list'], asKey(adminKey, 'cli-org')));
    assert.match(list, /^ID\s+NAME\s+SCOPES\s+STATUS\s+CREATED\s+LAST USED$/m);
    assert.match(list, new RegExp(`^${id}\\s+web server\\s+production\\s+active\\s+\\d{4}-\\d\\d-\\d\\d`, 'm'));
    assert.ok(!list.includes(secret.slice(4)), 'no secret in the list');
    const got = ok(tx(['keys', 'get', '--key', id], asKey(adminKey, 'cli-org')));
    assert.match(got, /^status\s+active$/m);
    assert.ok(!got.includes(secret.slice(4)));

    const revoked = ok(tx(['keys', 'delete', '--key', id], asKey(adminKey, 'cli-org')));
    assert.match(revoked, new RegExp(`revoked ${id} \\(web server\\)`));
    const denied = tx(['--org', 'cli-org', 'keys', 'list'], { TX_KEY_ID: id, TX_KEY_SECRET: secret });
    assert.equal(denied.code, 1);
    assert.match(denied.err, /401 invalid_token: .*revoked/);
  });

  test('a missing scope is exit 1 with the scope named', () => {
    const ci = JSON.parse(ok(tx(['--json', 'keys', 'create', '--name', 'pipeline', '--use', 'ci'], asKey(adminKey, 'cli-org'))));
    const r = tx(['keys', 'create', '--name', 'x', '--use', 'ci'], asKey(ci, 'cli-org'));
    assert.equal(r.code, 1);
    assert.match(r.err, /^error: 403 insufficient_scope: .*keys:write/m);
  });

  test('rotate, signing-keys list, and the audit log', () => {
    const out = ok(tx(['rotate', '--immediate'], asKey(adminKey, 'cli-org')));
    assert.match(out, /new signing key \S+ \(published now\)\nretiring: \S+/);
    const keys = ok(tx(['signing-keys', 'list'], asKey(adminKey, 'cli-org')));
    assert.match(keys, /^KID\s+STATUS\s+CREATED\s+RETIRED$/m);
    assert.equal((keys.match(/ active /g) || []).length, 1);
    assert.equal((keys.match(/ retired /g) || []).length, 1);
    const audit = ok(tx(['audit', '--limit', '5'], asKey(adminKey, 'cli-org')));
    assert.match(audit.split('\n')[1], new RegExp(`${adminKey.id}\\s+signing_key\\.rotate`));
  });

  test('revoke: a session through the CLI, refused at its next refresh', async () => {
    const s = (await worker.postForm('/orgs/cli-org/sessions/anonymous', {})).body;
    const out = ok(tx(['revoke', '--sub', s.subject, '--sid', s.session_id], asKey(adminKey, 'cli-org')));
    assert.match(out, new RegExp(`revoked sid ${s.session_id} \\(until \\d{4}-`));
    const r = await worker.postForm('/orgs/cli-org/token', { grant_type: 'refresh_token', refresh_token: s.refresh_token });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    const bad = tx(['revoke', '--sid', 'x'], asKey(adminKey, 'cli-org'));
    assert.equal(bad.code, 1);
    assert.match(bad.err, /400 invalid_request/);
  });

  test('token mint: an admin credential and a service token, both verifiable', async () => {
    const credential = ok(tx(['token', 'mint', '--admin'], asKey(adminKey, 'cli-org'))).trim();
    const res = await worker.request('/admin/v1/orgs/cli-org', { headers: { authorization: `Bearer ${credential}` } });
    assert.equal(res.status, 200, JSON.stringify(res.body));

    const token = ok(tx(['token', 'mint', '--aud', 'factory-1', '--sub', 'svc-a', '--scope', 'orders:read', '--ttl', '60'], asKey(adminKey, 'cli-org'))).trim();
    const jwks = createLocalJWKSet((await worker.request('/orgs/cli-org/.well-known/jwks.json')).body);
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { audience: 'factory-1', algorithms: ['EdDSA'] });
    assert.equal(protectedHeader.kid, adminKey.id);
    assert.equal(payload.sub, 'svc-a');
    assert.equal(payload.scope, 'orders:read');
    assert.equal(payload.exp - payload.iat, 60);
  });
});

describe('export and import of an org', () => {
  test('export holds settings, providers and key metadata, never a secret; import recreates the org', async () => {
    const op = asOperator();
    ok(tx(['orgs', 'create', 'exported', '--name', 'Exported'], op));
    ok(tx(['--org', 'exported', 'signing-keys', 'create'], op));
    await worker.operator('PUT', '/orgs/exported', { name: 'Exported', anonymous_scope: 'session read', access_token_ttl_secs: 300 });
    const hsSecret = 'exported-hs256-secret-'.padEnd(40, 'q');
    await worker.operator('PUT', '/orgs/exported/providers/corp', {
      issuer: 'https://sso.corp.example', jwks_uri: 'https://sso.corp.example/jwks', algorithms: ['RS256'],
      audiences: ['c1'], allowed_scopes: ['read'], claim_mapping: { email: 'email' },
    });
    await worker.operator('PUT', '/orgs/exported/providers/legacy-sso', {
      issuer: 'https://legacy.example', algorithms: ['HS256'], audiences: ['l'], hs256_secret: hsSecret,
    });
    const key = JSON.parse(ok(tx(['--org', 'exported', '--json', 'keys', 'create', '--name', 'ci pipeline', '--use', 'ci', '--audience', 'a1'], op)));

    const exported = ok(tx(['--org', 'exported', 'orgs', 'export'], op));
    const doc = JSON.parse(exported);
    assert.equal(doc.format, 'token-exchange/org-export/v1');
    assert.equal(doc.org.settings.access_token_ttl_secs, 300);
    assert.deepEqual(doc.providers.map((p) => p.id).sort(), ['corp', 'legacy-sso']);
    assert.equal(doc.org_keys[0].name, 'ci pipeline');
    for (const forbidden of [key.secret.slice(4), hsSecret, '"sealed', '"secret"', '"d"', '"private_jwk"']) {
      assert.ok(!exported.includes(forbidden), `the export contains ${forbidden.slice(0, 12)}`);
    }

    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'tx-export-')), 'exported.json');
    writeFileSync(file, exported);
    const without = ok(tx(['orgs', 'import', '--file', file, '--as', 'imported'], op));
    assert.match(without, /provider legacy-sso: NOT imported, set TX_PROVIDER_SECRET_LEGACY_SSO/);
    assert.match(without, /key ci pipeline: not recreated/);
    const report = ok(tx(['orgs', 'import', '--file', file, '--as', 'imported', '--recreate-keys'], { ...op, TX_PROVIDER_SECRET_LEGACY_SSO: hsSecret }));
    assert.match(report, /provider corp: imported/);
    assert.match(report, /provider legacy-sso: imported/);
    const [, newId, newSecret] = report.match(/key ci pipeline: recreated as (key_\S+) with secret (sec_\S+)/);
    assert.notEqual(newId, key.id);

    const copy = (await worker.operator('GET', '/orgs/imported')).body;
    assert.deepEqual(copy.settings, doc.org.settings);
    const providers = (await worker.operator('GET', '/orgs/imported/providers')).body.providers;
    const strip = ({ created_at, updated_at, ...rest }) => rest;
    assert.deepEqual(providers.map(strip), doc.providers.map(strip));
    const recreated = (await worker.operator('GET', `/orgs/imported/keys/${newId}`)).body;
    assert.deepEqual([recreated.scopes, recreated.conditions], [key.scopes, key.conditions]);
    ok(tx(['--org', 'imported', 'keys', 'list'], { TX_KEY_ID: newId, TX_KEY_SECRET: newSecret }));
    assert.equal((await worker.postForm('/orgs/imported/sessions/anonymous', {})).status, 200, 'a signing key was created');
  });
});

describe('exit codes and credentials', () => {
  test('no credential, half a key, a malformed secret: exit 2, and the secret is never echoed', () => {
    const secret = 'sec_' + 'A'.repeat(40);
    for (const env of [{}, { TX_KEY_ID: 'key_AAAAAAAAAAAAAAAAAAAAAA' }, { TX_KEY_ID: 'key_AAAAAAAAAAAAAAAAAAAAAA', TX_KEY_SECRET: secret }]) {
      const r = tx(['--org', 'cli-org', 'keys', 'list'], env);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, /TX_KEY|credential/);
      assert.ok(!r.err.includes(secret));
    }
  });

  test('secrets are not accepted as arguments', () => {
    const r = tx(['keys', 'list', '--secret', 'sec_x'], asOperator());
    assert.equal(r.code, 2);
  });

  test('an unreachable worker is exit 3; an unknown org is exit 1 (404)', async () => {
    const port = await freePort();
    const r = tx(['--url', `http://127.0.0.1:${port}`, '--org', 'cli-org', 'keys', 'list'], asOperator());
    assert.equal(r.code, 3, r.err);
    assert.match(r.err, /cannot reach the worker/);
    const missing = tx(['--org', 'no-such-org', 'keys', 'list'], asOperator());
    assert.equal(missing.code, 1);
    assert.match(missing.err, /404 not_found/);
  });
});
