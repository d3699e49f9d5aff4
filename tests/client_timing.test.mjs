// The browser client's timing logic, with a fake clock and a fake fetch (no worker, no browser):
// refresh ahead of expiry, single-flight, retries with backoff and Retry-After, typed errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenError, createClient, refreshDue, retryDelay } from '../www/tx-client.js';

test('refresh is due at 80 % of the lifetime, minus at most 10 % jitter', () => {
  assert.equal(refreshDue(0, 1000, 0.8, 0), 800);
  assert.equal(refreshDue(0, 1000, 0.8, 0.999999).toFixed(0), '700');
  assert.equal(refreshDue(5000, 5000, 0.8, 0.5), 5000);
});

test('retry delays: Retry-After when given, else capped exponential backoff with jitter', () => {
  assert.equal(retryDelay(0, '3', 0.5), 3000);
  assert.equal(retryDelay(0, '999', 0.5), 60000, 'capped at a minute');
  assert.equal(retryDelay(0, null, 1), 250);
  assert.equal(retryDelay(2, null, 1), 1000);
  assert.equal(retryDelay(10, null, 1), 8000);
  assert.equal(retryDelay(3, 'soon', 0), 1000, 'an unreadable Retry-After falls back to backoff');
});

function fakeWorker() {
  let clock = 1_000_000;
  const calls = [];
  let n = 0;
  const script = [];
  const respond = (status, body, headers = {}) => new Response(JSON.stringify(body), { status, headers });
  const fetch = async (url, init) => {
    calls.push({ url: String(url), body: init?.body });
    if (String(url).endsWith('/.well-known/oauth-authorization-server')) {
      return respond(200, { token_endpoint: 'https://t/token', anonymous_session_endpoint: 'https://t/anon', revocation_endpoint: 'https://t/revoke' });
    }
    if (script.length) return script.shift()();
    n += 1;
    return respond(200, { access_token: `at${n}`, refresh_token: `rt${n}`, expires_in: 600, scope: 's', session_id: 'sid', subject: 'anon_1', token_type: 'Bearer' });
  };
  return { fetch, calls, script, respond, now: () => clock, advance: (ms) => { clock += ms; } };
}

test('a session on first use, the cached token until 80 %, then one refresh', async () => {
  const w = fakeWorker();
  const client = createClient({ issuer: 'https://t/orgs/a', storage: 'memory', fetch: w.fetch, now: w.now });
  assert.equal(await client.getToken(), 'at1');
  assert.equal(w.calls.filter((c) => c.url === 'https://t/anon').length, 1);
  w.advance(400_000);
  assert.equal(await client.getToken(), 'at1', 'before 70 % it is never refreshed');
  w.advance(81_000); // 481 s of 600: past 80 % whatever the jitter
  assert.equal(await client.getToken(), 'at2');
  const refresh = w.calls.find((c) => c.url === 'https://t/token');
  assert.match(refresh.body, /grant_type=refresh_token&refresh_token=rt1/);
});

test('single-flight: concurrent callers share one refresh', async () => {
  const w = fakeWorker();
  const client = createClient({ issuer: 'https://t/orgs/a', storage: 'memory', fetch: w.fetch, now: w.now });
  await client.getToken();
  const tokens = await Promise.all(Array.from({ length: 10 }, () => client.getToken({ forceRefresh: true })));
  assert.deepEqual(new Set(tokens), new Set(['at2']));
  assert.equal(w.calls.filter((c) => c.url === 'https://t/token').length, 1);
});

test('5xx and 429 are retried (Retry-After honoured), 4xx are typed errors, invalid_grant starts over', async () => {
  const w = fakeWorker();
  const client = createClient({ issuer: 'https://t/orgs/a', storage: 'memory', fetch: w.fetch, now: w.now });
  w.script.push(() => w.respond(503, { error: 'temporarily_unavailable' }), () => w.respond(429, { error: 'rate_limit_exceeded' }, { 'retry-after': '0' }));
  assert.equal(await client.getToken(), 'at1', 'after two retries');
  w.script.push(() => w.respond(400, { error: 'invalid_grant', error_description: 'session has been revoked' }));
  assert.equal(await client.getToken({ forceRefresh: true }), 'at2', 'a revoked session is replaced by a new one');
  const failing = createClient({ issuer: 'https://t/orgs/b', storage: 'memory', fetch: w.fetch, now: w.now });
  w.script.push(() => w.respond(403, { error: 'access_denied', error_description: 'anonymous sessions are disabled' }));
  const errors = [];
  failing.onError((e) => errors.push(e));
  await assert.rejects(failing.getToken(), (e) => e instanceof TokenError && e.code === 'access_denied' && e.status === 403);
  assert.equal(errors.length, 1);
});
