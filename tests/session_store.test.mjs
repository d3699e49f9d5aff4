// Bounded storage in the session shards: the purge (what each shard's alarm runs hourly) removes
// families once their session has ended and revocations once nothing they cover can be valid.
// Time is simulated with `as_of`, which only a development worker (DEV_MODE) accepts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { assertOAuthError, decodeJwt, startWorker } from './support/worker.mjs';

let worker;
before(async () => {
  worker = await startWorker({ devMode: true });
  await worker.createOrg('acme', { session_ttl_secs: 7200 });
});
after(() => worker?.stop());

const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);
const ok = async (p) => {
  const r = await p;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
};
const purge = (as_of) => ok(worker.operator('POST', '/orgs/acme/session-store/purge', as_of ? { as_of } : undefined));

test('after a simulated day, row counts return to what live sessions need', async () => {
  const sessions = [];
  for (let i = 0; i < 12; i++) sessions.push(await ok(worker.postForm('/orgs/acme/sessions/anonymous', {})));
  const refreshed = [];
  for (const s of sessions.slice(0, 8)) {
    refreshed.push(await ok(worker.postForm('/orgs/acme/token', { grant_type: 'refresh_token', refresh_token: s.refresh_token })));
  }
  for (const s of sessions.slice(0, 2)) await ok(worker.operator('POST', '/orgs/acme/revocations', { sub: s.subject, sid: s.session_id }));
  for (const r of refreshed.slice(2, 5)) {
    const { sub, jti, exp } = decodeJwt(r.access_token).payload;
    await ok(worker.operator('POST', '/orgs/acme/revocations', { sub, jti, exp }));
  }
  const before1 = (await ok(worker.operator('GET', '/orgs/acme/session-store'))).totals;
  assert.equal(before1.families, 8, 'one family per refreshed session, none for the others');
  assert.equal(before1.revocations, 5);

  const nowPurged = (await purge()).totals;
  assert.deepEqual([nowPurged.families, nowPurged.revocations], [8, 5], 'nothing live is purged now');

  const hourLater = (await purge(now() + 3600)).totals;
  assert.equal(hourLater.families, 8, 'sessions (2 h) still live after an hour');
  assert.equal(hourLater.revocations, 2, 'token revocations are gone once the tokens expired');

  const dayLater = (await purge(now() + DAY)).totals;
  assert.deepEqual([dayLater.families, dayLater.revocations], [0, 0], 'ended sessions leave nothing behind');
});

test('a simulated time is refused unless the worker runs in development', async () => {
  const prod = await startWorker();
  try {
    await prod.createOrg('acme');
    const res = await prod.operator('POST', '/orgs/acme/session-store/purge', { as_of: now() + DAY });
    assertOAuthError(res, 400, 'invalid_request', /DEV_MODE/);
    assert.equal((await prod.operator('POST', '/orgs/acme/session-store/purge')).status, 200);
  } finally {
    await prod.stop();
  }
});
