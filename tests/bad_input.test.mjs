// Bad input on the public endpoints: every case is the documented OAuth error JSON
// ({"error","error_description"}, application/json, no-store) with the right status, never a 500.
// Also CORS, both the refusals and what an allowed origin gets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertOAuthError, startWorker } from './support/worker.mjs';

const APP = 'http://localhost:3000';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_CT = { 'content-type': 'application/json' };
const ANON = '/orgs/acme/sessions/anonymous';
const TOKEN = '/orgs/acme/token';

let worker;
before(async () => {
  worker = await startWorker();
  await worker.createOrg('acme', { anonymous_scope: 'session read:profile', allowed_origins: [APP] });
  await worker.createOrg('globex');
  await worker.createOrg('closed', { anonymous_sessions: false, allowed_origins: [APP] });
  // An org without any signing key: operator PUT only.
  const put = await worker.operator('PUT', '/orgs/nokey', {});
  assert.equal(put.status, 201, JSON.stringify(put.body));
});
after(() => worker?.stop());

const session = async (org = 'acme') => {
  const res = await worker.postForm(`/orgs/${org}/sessions/anonymous`, {});
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
};

/** POSTs a raw body to the token endpoint. */
const postRaw = (path, body, headers = FORM) => worker.request(path, { method: 'POST', headers, body });

const refresh = (refresh_token, extra = {}) =>
  worker.postForm(TOKEN, { grant_type: 'refresh_token', refresh_token, ...extra });

/** A body of exactly `n` bytes that is a valid form. */
const formOfSize = (n) => `device_id=${'a'.repeat(n - 'device_id='.length)}`;

/** A request body with no Content-Length: a stream, sent chunked. */
function chunkedBody(totalBytes, chunk = 1024) {
  const piece = new TextEncoder().encode('a'.repeat(chunk));
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= totalBytes) return controller.close();
      const n = Math.min(chunk, totalBytes - sent);
      controller.enqueue(n === chunk ? piece : piece.subarray(0, n));
      sent += n;
    },
  });
}

describe('404 not_found', () => {
  const unknownOrgCases = [
    ['GET', '/.well-known/oauth-authorization-server/orgs/ghost'],
    ['GET', '/orgs/ghost/.well-known/oauth-authorization-server'],
    ['GET', '/orgs/ghost/.well-known/openid-configuration'],
    ['GET', '/orgs/ghost/.well-known/jwks.json'],
    ['POST', '/orgs/ghost/sessions/anonymous'],
    ['POST', '/orgs/ghost/token'],
  ];
  for (const [method, path] of unknownOrgCases) {
    test(`unknown org: ${method} ${path}`, async () => {
      const init = { method };
      if (method === 'POST') Object.assign(init, { headers: FORM, body: 'grant_type=refresh_token' });
      assertOAuthError(await worker.request(path, init), 404, 'not_found');
    });
  }

  test('unknown org with an Origin header is still a plain 404', async () => {
    const res = await worker.request('/orgs/ghost/token', {
      method: 'POST',
      headers: { ...FORM, origin: APP },
      body: 'grant_type=refresh_token',
    });
    assertOAuthError(res, 404, 'not_found');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  for (const [method, path] of [
    ['GET', '/nope'],
    ['POST', '/orgs/acme'],
    ['POST', '/orgs/acme/tokens'],
    ['POST', '/orgs/acme/sessions'],
    ['GET', '/orgs/acme/.well-known/jwks'],
    ['POST', '/orgs/Acme/token'],
    ['POST', '/orgs/ac_me/token'],
    ['POST', '/orgs/-acme/token'],
    ['POST', `/orgs/${'a'.repeat(64)}/token`],
    ['POST', '/orgs/%61cme/token'],
    ['POST', '/orgs//token'],
    ['POST', '/orgs/acme/token/'],
    ['POST', '/orgs/acme/sessions/anonymous/'],
    ['GET', '/orgs/acme/.well-known/jwks.json/'],
    ['GET', '/.well-known/oauth-authorization-server/orgs/acme/'],
  ]) {
    test(`no such route: ${method} ${path}`, async () => {
      const init = { method };
      if (method === 'POST') Object.assign(init, { headers: FORM, body: 'grant_type=refresh_token' });
      assertOAuthError(await worker.request(path, init), 404, 'not_found');
    });
  }
});

describe('405 invalid_request with Allow', () => {
  for (const [method, path, allow] of [
    ['GET', TOKEN, 'POST, OPTIONS'],
    ['PUT', TOKEN, 'POST, OPTIONS'],
    ['GET', ANON, 'POST, OPTIONS'],
    ['DELETE', ANON, 'POST, OPTIONS'],
    ['POST', '/orgs/acme/.well-known/jwks.json', 'GET, OPTIONS'],
    ['DELETE', '/orgs/acme/.well-known/jwks.json', 'GET, OPTIONS'],
    ['DELETE', '/orgs/acme/.well-known/openid-configuration', 'GET, OPTIONS'],
    ['DELETE', '/.well-known/oauth-authorization-server/orgs/acme', 'GET, OPTIONS'],
    ['POST', '/orgs/acme/.well-known/oauth-authorization-server', 'GET, OPTIONS'],
  ]) {
    test(`${method} ${path}`, async () => {
      const res = await worker.request(path, { method });
      assertOAuthError(res, 405, 'invalid_request', /method not allowed/);
      assert.equal(res.headers.get('allow'), allow);
    });
  }
});

describe('413 body too large', () => {
  for (const path of [TOKEN, ANON]) {
    test(`${path}: a form over 16 KiB (with Content-Length)`, async () => {
      assertOAuthError(await postRaw(path, formOfSize(16 * 1024 + 1)), 413, 'invalid_request', /16384 bytes/);
    });

    test(`${path}: a chunked body over 16 KiB (no Content-Length)`, async () => {
      const res = await worker.request(path, {
        method: 'POST',
        headers: FORM,
        body: chunkedBody(64 * 1024),
        duplex: 'half',
      });
      assertOAuthError(res, 413, 'invalid_request', /16384 bytes/);
    });

    test(`${path}: a JSON body over 16 KiB`, async () => {
      const body = JSON.stringify({ device_id: 'a'.repeat(17 * 1024) });
      assertOAuthError(await postRaw(path, body, JSON_CT), 413, 'invalid_request');
    });
  }

  test('exactly 16 KiB is read (and then judged on its content, not its size)', async () => {
    // A device_id that long is invalid, but it is a 400, not a 413.
    assertOAuthError(await postRaw(ANON, formOfSize(16 * 1024)), 400, 'invalid_request', /device_id/);
  });

  test('a chunked body at the limit is read', async () => {
    const res = await worker.request(ANON, {
      method: 'POST',
      headers: FORM,
      body: chunkedBody(16 * 1024),
      duplex: 'half',
    });
    // "aaaa…" is one parameter named a…a with an empty value: ignored, so a session is issued.
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  // A lying Content-Length (smaller than the body) cannot be sent with fetch: undici refuses to
  // send a body that does not match the header (UND_ERR_REQ_CONTENT_LENGTH_MISMATCH), so the
  // "no Content-Length" (chunked) cases above are the ones that exercise the after-read check.
});

describe('415 unsupported media type', () => {
  for (const [ct, body] of [
    ['text/plain', 'grant_type=refresh_token&refresh_token=x'],
    ['multipart/form-data; boundary=XyZ', '--XyZ\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nrefresh_token\r\n--XyZ--\r\n'],
    ['application/xml', '<grant_type>refresh_token</grant_type>'],
  ]) {
    test(`token endpoint with ${ct.split(';')[0]}`, async () => {
      assertOAuthError(await postRaw(TOKEN, body, { 'content-type': ct }), 415, 'invalid_request', /content type/);
    });
  }

  test('anonymous endpoint with text/plain', async () => {
    assertOAuthError(await postRaw(ANON, 'device_id=x', { 'content-type': 'text/plain' }), 415, 'invalid_request');
  });

  for (const path of ['/admin/v1/orgs/acme/signing-keys/rotate', '/admin/v1/orgs/acme/session-store/purge']) {
    test(`an optional JSON body sent as text/plain: ${path.split('/').slice(-2).join('/')}`, async () => {
      const res = await worker.request(path, { method: 'POST', body: '{}',
        headers: { authorization: `Bearer ${worker.operatorToken}`, 'content-type': 'text/plain' } });
      assertOAuthError(res, 415, 'invalid_request');
    });
  }

  test('a non-empty body without a content type', async () => {
    // fetch labels a string body text/plain; a Uint8Array body goes without any Content-Type.
    const res = await worker.request(TOKEN, { method: 'POST', body: new TextEncoder().encode('grant_type=x') });
    assertOAuthError(res, 415, 'invalid_request');
  });
});

describe('400 invalid_request', () => {
  test('missing grant_type', async () => {
    assertOAuthError(await worker.postForm(TOKEN, { refresh_token: 'rt1.x' }), 400, 'invalid_request', /grant_type/);
  });

  test('empty body', async () => {
    assertOAuthError(await worker.request(TOKEN, { method: 'POST' }), 400, 'invalid_request', /grant_type/);
  });

  test('empty grant_type is absent', async () => {
    assertOAuthError(await postRaw(TOKEN, 'grant_type=&refresh_token=x'), 400, 'invalid_request', /grant_type/);
  });

  test('missing refresh_token', async () => {
    assertOAuthError(
      await worker.postForm(TOKEN, { grant_type: 'refresh_token' }),
      400,
      'invalid_request',
      /refresh_token/,
    );
  });

  test('JSON null refresh_token is absent', async () => {
    const res = await worker.postJson(TOKEN, { grant_type: 'refresh_token', refresh_token: null });
    assertOAuthError(res, 400, 'invalid_request', /missing parameter: refresh_token/);
  });

  test('repeated parameter in a form', async () => {
    assertOAuthError(
      await postRaw(TOKEN, 'grant_type=refresh_token&grant_type=refresh_token'),
      400,
      'invalid_request',
      /repeated parameter: grant_type/,
    );
  });

  test('repeated parameter in a form, the second one empty', async () => {
    assertOAuthError(await postRaw(TOKEN, 'grant_type=refresh_token&grant_type='), 400, 'invalid_request', /repeated/);
  });

  test('repeated parameter in a form, the first one empty (order must not matter)', async () => {
    const res = await postRaw(TOKEN, 'grant_type=&grant_type=refresh_token&refresh_token=rt1.x');
    assertOAuthError(res, 400, 'invalid_request', /repeated parameter: grant_type/);
  });

  test('repeated key in a JSON body', async () => {
    assertOAuthError(
      await postRaw(TOKEN, '{"grant_type":"refresh_token","grant_type":"x"}', JSON_CT),
      400,
      'invalid_request',
      /duplicate/,
    );
  });

  test('repeated key in a JSON body, spelled with an escape', async () => {
    assertOAuthError(
      await postRaw(TOKEN, '{"grant_type":"refresh_token","grant_typ\\u0065":"x"}', JSON_CT),
      400,
      'invalid_request',
      /duplicate/,
    );
  });

  for (const [name, body] of [
    ['an array', '["grant_type","refresh_token"]'],
    ['a string', '"grant_type=refresh_token"'],
    ['a number', '42'],
    ['null', 'null'],
  ]) {
    test(`JSON body that is ${name}`, async () => {
      assertOAuthError(await postRaw(TOKEN, body, JSON_CT), 400, 'invalid_request', /must be an object/);
    });
  }

  for (const [name, value] of [
    ['number', 1],
    ['boolean', true],
    ['array', ['refresh_token']],
    ['object', { v: 'refresh_token' }],
  ]) {
    test(`JSON ${name} value`, async () => {
      assertOAuthError(
        await worker.postJson(TOKEN, { grant_type: value }),
        400,
        'invalid_request',
        /parameter grant_type must be a string/,
      );
    });
  }

  for (const [name, body] of [
    ['truncated', '{"grant_type":"refresh_token"'],
    ['trailing garbage', '{"grant_type":"refresh_token"} x'],
    ['single quotes', "{'grant_type':'refresh_token'}"],
    ['trailing comma', '{"grant_type":"refresh_token",}'],
    ['deeply nested objects', '{"a":'.repeat(3000)],
    ['deeply nested arrays', `{"a":${'['.repeat(10000)}`],
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x22, 0x78, 0x22, 0x7d])],
  ]) {
    test(`malformed JSON: ${name}`, async () => {
      assertOAuthError(await postRaw(TOKEN, body, JSON_CT), 400, 'invalid_request', /JSON/);
    });
  }

  test('JSON nested within the parser limit is judged on its content', async () => {
    const body = `{"grant_type":${'['.repeat(100)}${']'.repeat(100)}}`;
    assertOAuthError(await postRaw(TOKEN, body, JSON_CT), 400, 'invalid_request', /must be a string/);
  });

  test('form body that is not UTF-8', async () => {
    assertOAuthError(await postRaw(ANON, Buffer.from('device_id=\xff', 'latin1')), 400, 'invalid_request', /UTF-8/);
  });

  for (const [name, device_id] of [
    ['with a space', 'my device'],
    ['129 characters', 'a'.repeat(129)],
    ['with a slash', 'a/b'],
    ['non-ASCII', 'gerät'],
    ['with a newline', 'a\nb'],
  ]) {
    test(`invalid device_id ${name} (form)`, async () => {
      assertOAuthError(await worker.postForm(ANON, { device_id }), 400, 'invalid_request', /device_id/);
    });
  }

  test('invalid device_id (JSON)', async () => {
    assertOAuthError(await worker.postJson(ANON, { device_id: 'a b' }), 400, 'invalid_request', /device_id/);
  });

  test('device_id of exactly 128 characters is fine', async () => {
    const res = await worker.postForm(ANON, { device_id: 'a'.repeat(128) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });
});

describe('400 unsupported_grant_type', () => {
  for (const grant_type of [
    'authorization_code',
    'password',
    'client_credentials',
    'urn:ietf:params:oauth:grant-type:jwt-bearer',
    'urn:ietf:params:oauth:grant-type:token-exchange ',
    'REFRESH_TOKEN',
    'refresh_token ',
    'nonsense',
  ]) {
    test(JSON.stringify(grant_type), async () => {
      const res = await worker.postForm(TOKEN, { grant_type, refresh_token: 'rt1.x', code: 'c' });
      assertOAuthError(res, 400, 'unsupported_grant_type', /refresh_token/);
    });
  }
});

describe('400 invalid_grant', () => {
  test('garbage', async () => {
    assertOAuthError(await refresh('garbage'), 400, 'invalid_grant');
  });

  test('empty-ish: "rt1."', async () => {
    assertOAuthError(await refresh('rt1.'), 400, 'invalid_grant');
  });

  test('not base64url after the prefix', async () => {
    assertOAuthError(await refresh('rt1.!!!!$$$$====****'), 400, 'invalid_grant');
    assertOAuthError(await refresh(`rt1.${'é'.repeat(60)}`), 400, 'invalid_grant');
  });

  test('wrong prefix', async () => {
    const { refresh_token } = await session();
    assertOAuthError(await refresh(`rt2.${refresh_token.slice(4)}`), 400, 'invalid_grant');
    assertOAuthError(await refresh(refresh_token.slice(4)), 400, 'invalid_grant');
  });

  test('an access token presented as refresh token', async () => {
    const { access_token } = await session();
    assertOAuthError(await refresh(access_token), 400, 'invalid_grant');
  });

  test('a valid token of another org', async () => {
    const { refresh_token } = await session('globex');
    assertOAuthError(await refresh(refresh_token), 400, 'invalid_grant');
  });

  test('tampered in the middle', async () => {
    const { refresh_token: t } = await session();
    const i = Math.floor(t.length / 2);
    const tampered = t.slice(0, i) + (t[i] === 'A' ? 'B' : 'A') + t.slice(i + 1);
    assertOAuthError(await refresh(tampered), 400, 'invalid_grant');
  });

  test('truncated and extended', async () => {
    const { refresh_token: t } = await session();
    assertOAuthError(await refresh(t.slice(0, -4)), 400, 'invalid_grant');
    assertOAuthError(await refresh(`${t}AAAA`), 400, 'invalid_grant');
  });

  test('a 3000-character token', async () => {
    assertOAuthError(await refresh(`rt1.${'A'.repeat(2996)}`), 400, 'invalid_grant');
  });

  test('the description does not say which check failed', async () => {
    const a = await refresh('garbage');
    const b = await refresh(`rt1.${'A'.repeat(60)}`);
    assert.equal(a.body.error_description, b.body.error_description);
  });
});

describe('400 invalid_scope', () => {
  for (const scope of ['a  b', ' session', 'session ', 'sess"ion', 'sess\\ion', 'séssion']) {
    test(`malformed scope ${JSON.stringify(scope)}`, async () => {
      const { refresh_token } = await session();
      assertOAuthError(await refresh(refresh_token, { scope }), 400, 'invalid_scope', /malformed/);
    });
  }

  test('a scope the session was not granted', async () => {
    const { refresh_token } = await session();
    assertOAuthError(await refresh(refresh_token, { scope: 'session admin' }), 400, 'invalid_scope', /admin/);
  });
});

describe('403 access_denied', () => {
  test('anonymous sessions disabled in org settings', async () => {
    const res = await worker.postForm('/orgs/closed/sessions/anonymous', {});
    assertOAuthError(res, 403, 'access_denied', /disabled/);
  });

  for (const path of [TOKEN, ANON]) {
    test(`${path}: an Origin the org does not allow`, async () => {
      const res = await worker.postForm(path, { grant_type: 'refresh_token' }, { origin: 'http://evil.test' });
      assertOAuthError(res, 403, 'access_denied', /evil\.test/);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
    });
  }

  for (const origin of ['null', 'http://localhost:3001', 'https://localhost:3000', 'http://localhost:3000/', 'HTTP://LOCALHOST:3000']) {
    test(`near misses of the allowed origin are refused: ${origin}`, async () => {
      const res = await worker.postForm(ANON, {}, { origin });
      assertOAuthError(res, 403, 'access_denied');
    });
  }

  test('an org with no allowed_origins refuses every Origin', async () => {
    assertOAuthError(await worker.postForm('/orgs/globex/sessions/anonymous', {}, { origin: APP }), 403, 'access_denied');
  });

  test('preflight from a disallowed origin', async () => {
    const res = await worker.request(TOKEN, {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.test', 'access-control-request-method': 'POST' },
    });
    assertOAuthError(res, 403, 'access_denied');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });
});

describe('CORS for an allowed origin', () => {
  for (const path of [TOKEN, ANON]) {
    test(`preflight ${path}`, async () => {
      const res = await worker.request(path, {
        method: 'OPTIONS',
        headers: {
          origin: APP,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
      assert.equal(res.status, 204, JSON.stringify(res.body));
      assert.equal(res.headers.get('access-control-allow-origin'), APP);
      assert.ok(res.headers.get('access-control-allow-methods')?.split(/,\s*/).includes('POST'));
      const allowHeaders = res.headers.get('access-control-allow-headers')?.toLowerCase().split(/,\s*/) ?? [];
      assert.ok(allowHeaders.includes('content-type'), `allow-headers: ${allowHeaders}`);
      assert.match(res.headers.get('access-control-max-age') ?? '', /^\d+$/);
      assert.match(res.headers.get('vary') ?? '', /\bOrigin\b/i);
      assert.equal(res.body, '');
    });
  }

  test('an anonymous session from the allowed origin', async () => {
    const res = await worker.postForm(ANON, {}, { origin: APP });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('access-control-allow-origin'), APP);
    assert.match(res.headers.get('vary') ?? '', /\bOrigin\b/i);
  });

  test('a refresh from the allowed origin', async () => {
    const { refresh_token } = await session();
    const cors = await worker.postForm(TOKEN, { grant_type: 'refresh_token', refresh_token }, { origin: APP });
    assert.equal(cors.status, 200, JSON.stringify(cors.body));
    assert.equal(cors.headers.get('access-control-allow-origin'), APP);
  });

  test('an error for an allowed origin carries ACAO so the browser can read it', async () => {
    const bad = await worker.postForm(TOKEN, { grant_type: 'refresh_token', refresh_token: 'rt1.x' }, { origin: APP });
    assertOAuthError(bad, 400, 'invalid_grant');
    assert.equal(bad.headers.get('access-control-allow-origin'), APP);
    assert.match(bad.headers.get('vary') ?? '', /\bOrigin\b/i);

    const big = await postRaw(TOKEN, formOfSize(20_000), { ...FORM, origin: APP });
    assertOAuthError(big, 413, 'invalid_request');
    assert.equal(big.headers.get('access-control-allow-origin'), APP);

    const closed = await worker.postForm('/orgs/closed/sessions/anonymous', {}, { origin: APP });
    assertOAuthError(closed, 403, 'access_denied', /disabled/);
    assert.equal(closed.headers.get('access-control-allow-origin'), APP);
  });

  for (const path of [
    '/orgs/acme/.well-known/jwks.json',
    '/.well-known/oauth-authorization-server/orgs/acme',
    '/orgs/acme/.well-known/oauth-authorization-server',
    '/orgs/acme/.well-known/openid-configuration',
  ]) {
    test(`${path} is readable from any origin`, async () => {
      for (const origin of [undefined, 'http://evil.test', APP]) {
        const res = await worker.request(path, { headers: origin ? { origin } : {} });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.headers.get('access-control-allow-origin'), '*', `origin ${origin}`);
      }
    });
  }

  test('JWKS preflight from any origin', async () => {
    const res = await worker.request('/orgs/acme/.well-known/jwks.json', {
      method: 'OPTIONS',
      headers: { origin: 'http://evil.test', 'access-control-request-method': 'GET' },
    });
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
  });

  test('no Origin header: no ACAO on the token response', async () => {
    const { refresh_token } = await session();
    const res = await refresh(refresh_token);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers.get('access-control-allow-origin'), null);
    const anon = await worker.postForm(ANON, {});
    assert.equal(anon.headers.get('access-control-allow-origin'), null);
  });
});

describe('503 temporarily_unavailable', () => {
  test('an org with no signing key cannot issue sessions, and says why', async () => {
    const res = await worker.postForm('/orgs/nokey/sessions/anonymous', {});
    assertOAuthError(res, 503, 'temporarily_unavailable', /no active signing key/);
    assert.match(res.body.error_description, /nokey/);
  });

  test('its documents still answer: metadata, and an empty JWKS', async () => {
    const jwks = await worker.request('/orgs/nokey/.well-known/jwks.json');
    assert.equal(jwks.status, 200, JSON.stringify(jwks.body));
    assert.deepEqual(jwks.body, { keys: [] });
    const meta = await worker.request('/orgs/nokey/.well-known/openid-configuration');
    assert.equal(meta.status, 200, JSON.stringify(meta.body));
  });
});

describe('the worker never crashed', () => {
  test('no panic or wasm trap in the logs', () => {
    const logs = worker.logs();
    for (const bad of ['panicked', 'RuntimeError', 'unreachable']) {
      assert.ok(!logs.includes(bad), `worker logs contain "${bad}":\n${logs}`);
    }
  });
});
