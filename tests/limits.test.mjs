// Rate limits and quotas: the per-IP limit on new anonymous sessions (Rate Limiting binding, at the
// tier the org picks), the org's monthly quota with its headers, refunds for failed requests, and
// that plan and quota are the operator's to change.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOAuthError, startWorker } from './support/worker.mjs';

let worker;
before(async () => {
  worker = await startWorker();
});
after(() => worker?.stop());

const anonymous = (org, ip) =>
  worker.postForm(`/orgs/${org}/sessions/anonymous`, {}, ip ? { 'CF-Connecting-IP': ip } : {});

function assertRateLimited(res, retryAfter) {
  assert.equal(res.status, 429, JSON.stringify(res.body));
  assert.equal(res.body.error, 'rate_limit_exceeded');
  assert.equal(typeof res.body.message, 'string');
  assert.equal(res.body.error_description, res.body.message);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.ok(Number(res.headers.get('retry-after')) >= 1, `Retry-After ${res.headers.get('retry-after')}`);
  if (retryAfter) assert.equal(res.headers.get('retry-after'), String(retryAfter));
}

describe('per-IP limit on new anonymous sessions', () => {
  test('strict: 10 a minute from one address, then 429 with Retry-After', async () => {
    await worker.createOrg('strict-org', { anonymous_rate_limit: 'strict' });
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await anonymous('strict-org'));
    const ok = results.filter((r) => r.status === 200).length;
    assert.equal(ok, 10, results.map((r) => r.status).join(','));
    assertRateLimited(results[11], 60);
    assert.match(results[11].body.message, /10 per minute/);
  });

  test('the limit is per org: another org is not affected', async () => {
    await worker.createOrg('other-org', { anonymous_rate_limit: 'strict' });
    assert.equal((await anonymous('other-org')).status, 200);
  });

  test('refreshes are not limited per IP', async () => {
    await worker.createOrg('refreshing', { anonymous_rate_limit: 'strict' });
    const s = (await anonymous('refreshing')).body;
    let token = s.refresh_token;
    for (let i = 0; i < 12; i++) {
      const r = await worker.postForm('/orgs/refreshing/token', { grant_type: 'refresh_token', refresh_token: token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      token = r.body.refresh_token;
    }
  });

  test('an unknown tier is refused naming the field; off has no limit', async () => {
    assertOAuthError(await worker.operator('PUT', '/orgs/other-org', { anonymous_rate_limit: 'extreme' }), 400, 'invalid_request', /anonymous_rate_limit/);
    await worker.createOrg('open-org', { anonymous_rate_limit: 'off' });
    for (let i = 0; i < 15; i++) assert.equal((await anonymous('open-org')).status, 200);
  });
});

describe('monthly quota', () => {
  test('metered responses carry the quota headers; over the quota, 429 until the month ends', async () => {
    await worker.createOrg('quota-org', { monthly_quota: 5 });
    const first = await anonymous('quota-org');
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-ratelimit-limit'), '5');
    assert.equal(first.headers.get('x-ratelimit-remaining'), '4');
    const reset = Number(first.headers.get('x-ratelimit-reset'));
    const now = Date.now() / 1000;
    assert.ok(reset > now && reset <= now + 31 * 86_400, `reset ${reset}`);
    assert.equal(new Date(reset * 1000).getUTCDate(), 1, 'the quota resets on the first of a month');

    const refreshed = await worker.postForm('/orgs/quota-org/token', { grant_type: 'refresh_token', refresh_token: first.body.refresh_token });
    assert.equal(refreshed.headers.get('x-ratelimit-remaining'), '3', 'refreshes count too');
    // A failed request is not counted.
    const failed = await worker.postForm('/orgs/quota-org/token', { grant_type: 'refresh_token', refresh_token: 'rt1.bogus' });
    assert.equal(failed.status, 400);
    for (let i = 0; i < 3; i++) assert.equal((await anonymous('quota-org')).status, 200);
    const over = await anonymous('quota-org');
    assertRateLimited(over);
    assert.match(over.body.message, /monthly quota of 5/);
    assert.ok(Math.abs(Number(over.headers.get('retry-after')) - (reset - Date.now() / 1000)) < 5);
  });

  test('the count survives a restart: it is flushed to the org usage object', async () => {
    await worker.createOrg('flushed', { monthly_quota: 1000 });
    for (let i = 0; i < 60; i++) assert.equal((await anonymous('flushed')).status, 200);
    await new Promise((r) => setTimeout(r, 500)); // the background flush
    const { persistDir, masterKey, operatorToken } = worker;
    await worker.stop();
    worker = await startWorker({ persistDir, masterKey, operatorToken });
    const res = await anonymous('flushed');
    const remaining = Number(res.headers.get('x-ratelimit-remaining'));
    assert.ok(remaining <= 1000 - 51, `remaining ${remaining}: at least one batch of 50 was kept`);
  });

  test("plan and quota are the operator's: an org key cannot raise them", async () => {
    const admin = await worker.createKey('quota-org', { name: 'admin', use: 'admin' });
    for (const change of [{ tier: 'enterprise' }, { monthly_quota: 1_000_000 }]) {
      assertOAuthError(await worker.asKey(admin, 'PUT', '/orgs/quota-org', { monthly_quota: 5, ...change }), 403, 'access_denied', /operator/);
    }
    const same = await worker.asKey(admin, 'PUT', '/orgs/quota-org', { monthly_quota: 5, name: 'renamed' });
    assert.equal(same.status, 200, JSON.stringify(same.body));
    const omitted = await worker.asKey(admin, 'PUT', '/orgs/quota-org', { name: 'plan left out' });
    assert.equal(omitted.status, 200, JSON.stringify(omitted.body));
    assert.equal(omitted.body.settings.monthly_quota, 5, 'an org key that leaves the plan out keeps it');
    const enterprise = await worker.operator('PUT', '/orgs/quota-org', { tier: 'enterprise' });
    assert.equal(enterprise.status, 200);
    const unlimited = await anonymous('quota-org');
    assert.equal(unlimited.status, 200);
    assert.equal(unlimited.headers.get('x-ratelimit-limit'), null, 'an unlimited org is not metered');
  });
});
