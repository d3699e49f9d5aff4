// Refresh-token families in the session shards (Durable Objects): rotation, races and retries
// within the reuse interval (same child), real reuse killing the family, strict mode, state that
// survives a restart, and the number of Durable Object calls per request (0 per new session, 1 per
// refresh), counted by the shards themselves.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { assertOAuthError, decodeJwt, startWorker } from './support/worker.mjs';

const persistDir = mkdtempSync(join(tmpdir(), 'tx-families-'));
let worker;
before(async () => {
  worker = await startWorker({ persistDir });
  await worker.createOrg('acme');
  await worker.createOrg('strict', { refresh_reuse_interval_secs: 0 });
  await worker.createOrg('quick', { refresh_reuse_interval_secs: 1 });
});
after(() => worker?.stop());

const newSession = (org = 'acme') => worker.session(org);
const refresh = (refresh_token, org = 'acme') => worker.refresh(org, refresh_token);
const ok = async (promise) => {
  const res = await promise;
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};
const store = async (org = 'acme') => {
  const res = await worker.operator('GET', `/orgs/${org}/session-store`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};

describe('Durable Object calls per request', () => {
  test('a new session makes none; a refresh makes exactly one', async () => {
    const before0 = (await store()).totals.calls;
    const sessions = [];
    for (let i = 0; i < 5; i++) sessions.push(await newSession());
    assert.equal((await store()).totals.calls, before0, 'anonymous sessions touch no Durable Object');
    for (const s of sessions) await ok(refresh(s.refresh_token));
    assert.equal((await store()).totals.calls, before0 + 5, 'one call per refresh');
  });

  test('the store answers per shard, and a session family lives in exactly one of 32', async () => {
    const s = await store();
    assert.equal(s.shards.length, 32);
    assert.equal(s.totals.families, s.shards.reduce((n, x) => n + x.families, 0));
    assertOAuthError(
      await worker.asKey(await worker.createKey('acme', { name: 'ci', use: 'ci' }), 'GET', '/orgs/acme/session-store'),
      403, 'insufficient_scope', /sessions:read/,
    );
  });
});

describe('rotation, races and reuse', () => {
  test('50 concurrent refreshes of one token: one generation step, one child, session alive', async () => {
    const s = await newSession();
    const results = await Promise.all(Array.from({ length: 50 }, () => refresh(s.refresh_token)));
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
    const children = new Set(results.map((r) => r.body.refresh_token));
    assert.equal(children.size, 1, 'every 200 carries the same child');
    assert.ok(results.every((r) => r.body.session_id === s.session_id && r.body.subject === s.subject));
    const [child] = children;
    const next = await ok(refresh(child));
    assert.equal(next.session_id, s.session_id, 'the session is alive: the child refreshes');
    assert.equal(decodeJwt(next.access_token).payload.sub, s.subject);
  });

  test('a retry within the interval gets the same child and does not count as reuse', async () => {
    const s = await newSession();
    const first = await ok(refresh(s.refresh_token));
    const retry = await ok(refresh(s.refresh_token));
    assert.equal(retry.refresh_token, first.refresh_token);
    await ok(refresh(first.refresh_token));
  });

  test('reuse of a grandparent token kills the family', async () => {
    const s = await newSession();
    const r1 = await ok(refresh(s.refresh_token));
    const r2 = await ok(refresh(r1.refresh_token));
    assertOAuthError(await refresh(s.refresh_token), 400, 'invalid_grant', /already used/);
    assertOAuthError(await refresh(r2.refresh_token), 400, 'invalid_grant', /revoked/);
    assertOAuthError(await refresh(r1.refresh_token), 400, 'invalid_grant', /revoked/);
  });

  test('strict org (interval 0): any second use is reuse', async () => {
    const s = await newSession('strict');
    const r1 = await ok(refresh(s.refresh_token, 'strict'));
    assertOAuthError(await refresh(s.refresh_token, 'strict'), 400, 'invalid_grant', /already used/);
    assertOAuthError(await refresh(r1.refresh_token, 'strict'), 400, 'invalid_grant', /revoked/);
  });

  test('the parent after the interval is reuse: the family is dead', async () => {
    const s = await newSession('quick');
    const r1 = await ok(refresh(s.refresh_token, 'quick'));
    await new Promise((r) => setTimeout(r, 2100));
    assertOAuthError(await refresh(s.refresh_token, 'quick'), 400, 'invalid_grant', /already used/);
    assertOAuthError(await refresh(r1.refresh_token, 'quick'), 400, 'invalid_grant', /revoked/);
    const counts = (await store('quick')).totals;
    assert.equal(counts.revoked_families, 1);
  });

  test('settings are validated', async () => {
    for (const [settings, field] of [
      [{ refresh_reuse_interval_secs: 61 }, /^refresh_reuse_interval_secs/],
      [{ session_idle_ttl_secs: 30 }, /^session_idle_ttl_secs/],
    ]) {
      assertOAuthError(await worker.operator('PUT', '/orgs/acme', settings), 400, 'invalid_request', field);
    }
  });
});

describe('durability', () => {
  test('families and their revocation survive a restart of the dev server', async () => {
    const s = await newSession();
    const r1 = await ok(refresh(s.refresh_token));
    const r2 = await ok(refresh(r1.refresh_token));
    const dead = await newSession();
    const d1 = await ok(refresh(dead.refresh_token));
    await ok(refresh(d1.refresh_token));
    assertOAuthError(await refresh(dead.refresh_token), 400, 'invalid_grant', /already used/);

    await worker.stop();
    worker = await startWorker({ persistDir, masterKey: worker.masterKey, operatorToken: worker.operatorToken });

    assertOAuthError(await refresh(d1.refresh_token), 400, 'invalid_grant', /revoked/);
    // The grandparent is reuse after the restart too, and kills the family, r2 included.
    assertOAuthError(await refresh(s.refresh_token), 400, 'invalid_grant', /already used/);
    assertOAuthError(await refresh(r2.refresh_token), 400, 'invalid_grant', /revoked/);
    const live = await newSession();
    await ok(refresh(live.refresh_token));
  });
});
