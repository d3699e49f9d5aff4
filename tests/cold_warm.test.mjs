// A cold org and a warm one are answered alike: every public endpoint is one flow (src/flow/), and
// a cold org is only an effect of it (loaded by the driver's `perform`, src/worker/driver.rs).
// A change to an org through the admin API drops it from the isolate's cache, so the next request
// finds it cold and the one after it warm. Each pair is compared: status, header names and the
// values that do not vary per request, body members, and the access token's header and claim
// names.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, startWorker } from './support/worker.mjs';
import { startIdp } from './support/idp.mjs';

const ORIGIN = 'https://app.example';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
// Vary per request (or per second), so only their presence is compared.
const VARYING = new Set(['x-request-id', 'x-ratelimit-remaining', 'date', 'content-length']);

// A quota (free tier) and a per-IP limit, so the metering headers and the limiter are on the path.
const SETTINGS = { tier: 'free', anonymous_rate_limit: 'relaxed', allowed_origins: [ORIGIN] };

let worker;
let idp;
before(async () => {
  worker = await startWorker();
  idp = await startIdp({ algorithms: ['RS256', 'EdDSA'] });
  await worker.createOrg('lean', SETTINGS);
  const res = await worker.operator('PUT', '/orgs/lean/providers/idp', idp.provider({
    claim_mapping: { email: 'email' }, allowed_scopes: ['orders:read'], default_scopes: ['orders:read'],
  }));
  assert.ok(res.status === 201 || res.status === 200, JSON.stringify(res.body));
});
after(async () => {
  await worker?.stop();
  await idp?.stop();
});

/**
 * Replaces the org's settings (`SETTINGS` with `changes`), which drops it from this isolate's
 * cache: the next public request takes the full path.
 */
async function cool(changes = {}) {
  const res = await worker.operator('PUT', '/orgs/lean', { ...SETTINGS, name: `Lean ${Math.random()}`, ...changes });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

function headersOf(res) {
  const out = {};
  res.headers.forEach((value, name) => {
    out[name] = VARYING.has(name) ? '(varies)' : value;
  });
  return out;
}

function shape(res) {
  const body = typeof res.body === 'object' ? res.body : {};
  const token = body.access_token ? decodeJwt(body.access_token) : undefined;
  return {
    status: res.status,
    headers: headersOf(res),
    members: Object.keys(body).sort(),
    scope: body.scope,
    tokenHeader: token?.header,
    claims: token ? Object.keys(token.payload).sort() : undefined,
  };
}

/** The same request twice: cold (full path) and warm (lean path); their shapes must match. */
async function coldThenWarm(send, changes) {
  await cool(changes);
  const cold = await send();
  const warm = await send();
  assert.deepEqual(shape(warm), shape(cold));
  return { cold, warm };
}

const anonymous = () => worker.postForm('/orgs/lean/sessions/anonymous', { device_id: 'dev-1' }, { origin: ORIGIN });

describe('the lean entry answers as the full path does', () => {
  test('a new anonymous session (CORS, quota headers, claims)', async () => {
    const { warm } = await coldThenWarm(anonymous);
    assert.equal(warm.status, 200, JSON.stringify(warm.body));
    assert.equal(warm.headers.get('access-control-allow-origin'), ORIGIN);
    assert.ok(warm.headers.get('x-ratelimit-limit'));
  });

  test('the JWKS', async () => {
    const { cold, warm } = await coldThenWarm(() => worker.request('/orgs/lean/.well-known/jwks.json'));
    assert.equal(warm.status, 200);
    assert.deepEqual(warm.body, cold.body);
  });

  test('a refresh (rotation, same subject and session)', async () => {
    const sessions = [(await anonymous()).body, (await anonymous()).body];
    let i = 0;
    const { cold, warm } = await coldThenWarm(() => {
      const s = sessions[i++];
      return worker.postForm('/orgs/lean/token', { grant_type: 'refresh_token', refresh_token: s.refresh_token }, { origin: ORIGIN });
    });
    assert.equal(warm.status, 200, JSON.stringify(warm.body));
    assert.equal(cold.body.subject, sessions[0].subject);
    assert.equal(warm.body.subject, sessions[1].subject);
    assert.notEqual(warm.body.refresh_token, sessions[1].refresh_token);
  });

  test('a reused refresh token is refused alike, and the family is revoked', async () => {
    const pairs = [];
    for (let n = 0; n < 2; n++) {
      const s = (await anonymous()).body;
      const next = await worker.refresh('lean', s.refresh_token);
      assert.equal(next.status, 200);
      pairs.push({ old: s.refresh_token, next: next.body.refresh_token });
    }
    // Strict rotation (no reuse interval): presenting a rotated-out token is reuse at once.
    let i = 0;
    const { warm } = await coldThenWarm(() => worker.refresh('lean', pairs[i++].old), { refresh_reuse_interval_secs: 0 });
    assert.equal(warm.status, 400);
    assert.equal(warm.body.error, 'invalid_grant');
    const revoked = await worker.refresh('lean', pairs[1].next);
    assert.equal(revoked.status, 400, 'the reuse revoked the family');
  });

  for (const alg of ['RS256', 'EdDSA']) {
    test(`a token exchange of an ${alg} upstream token`, async () => {
      // The first exchange also fetches the provider's keys: run one before cooling the org.
      const upstream = () => idp.mint({ alg, claims: { email: 'alice@example.com' } });
      const exchange = () => worker.postForm('/orgs/lean/token',
        { grant_type: GRANT, subject_token: upstream(), subject_token_type: JWT }, { origin: ORIGIN });
      assert.equal((await exchange()).status, 200);
      const { warm } = await coldThenWarm(exchange);
      assert.equal(warm.status, 200, JSON.stringify(warm.body));
      assert.equal(warm.body.issued_token_type, 'urn:ietf:params:oauth:token-type:access_token');
      assert.equal(decodeJwt(warm.body.access_token).payload.email, 'alice@example.com');
    });
  }

  test('a tampered upstream token is refused by both paths alike', async () => {
    const token = idp.tamper(idp.mint({ alg: 'RS256' }));
    const { warm } = await coldThenWarm(() => worker.postForm('/orgs/lean/token',
      { grant_type: GRANT, subject_token: token, subject_token_type: JWT }));
    assert.equal(warm.status, 400);
  });

  test('introspection of an access token by the operator: active, then revoked', async () => {
    const s = (await anonymous()).body;
    const introspect = () => worker.postForm('/orgs/lean/introspect', { token: s.access_token },
      { authorization: `Bearer ${worker.operatorToken}` });
    // The first introspection imports the org's verify key in the isolate: before cooling.
    assert.equal((await introspect()).status, 200);
    const { cold, warm } = await coldThenWarm(introspect);
    assert.equal(warm.body.active, true, JSON.stringify(warm.body));
    assert.deepEqual(warm.body, cold.body);
    const claims = decodeJwt(s.access_token).payload;
    const revoked = await worker.operator('POST', '/orgs/lean/revocations', { sub: claims.sub, sid: claims.sid });
    assert.ok(revoked.status === 200 || revoked.status === 201, JSON.stringify(revoked.body));
    const after = await coldThenWarm(introspect);
    assert.deepEqual(after.warm.body, { active: false });
    assert.deepEqual(after.cold.body, { active: false });
  });

  test('introspection from a browser origin the org allows carries CORS alike', async () => {
    const s = (await anonymous()).body;
    const introspect = () => worker.postForm('/orgs/lean/introspect', { token: s.access_token },
      { authorization: `Bearer ${worker.operatorToken}`, origin: ORIGIN });
    const { warm } = await coldThenWarm(introspect);
    assert.equal(warm.headers.get('access-control-allow-origin'), ORIGIN);
  });

  test('a GET of a POST endpoint is refused alike (405)', async () => {
    for (const path of ['/orgs/lean/token', '/orgs/lean/sessions/anonymous', '/orgs/lean/introspect']) {
      const { warm } = await coldThenWarm(() => worker.request(path));
      assert.equal(warm.status, 405, path);
    }
  });

  test('an origin the org does not allow is refused alike', async () => {
    const { warm } = await coldThenWarm(() =>
      worker.postForm('/orgs/lean/sessions/anonymous', {}, { origin: 'https://evil.example' }));
    assert.equal(warm.status, 403);
  });
});
