// The local development identity provider: `make dev` runs it beside the worker (it is never part
// of the worker, so no deployed environment has it). It holds one Ed25519 key, serves its JWKS at
// /jwks, and mints ID tokens at /token?sub=NAME for any name, so the demo can show a token
// exchange without a real identity provider. Browsers may call it from anywhere (CORS *).
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';

export const DEV_IDP_AUDIENCE = 'token-exchange-demo';

const b64url = (b) => Buffer.from(b).toString('base64url');

export async function startDevIdp(port = 0) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const kid = `dev-${randomUUID().slice(0, 8)}`;
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' };
  let issuer;
  const server = createServer((req, res) => {
    const url = new URL(req.url, issuer);
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/jwks') return send(200, { keys: [jwk] });
    if (url.pathname !== '/token') return send(404, { error: 'not_found' });
    const sub = (url.searchParams.get('sub') || 'alice').slice(0, 64);
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'EdDSA', kid, typ: 'JWT' }));
    const payload = b64url(JSON.stringify({
      iss: issuer, sub, aud: DEV_IDP_AUDIENCE, iat: now, exp: now + 300,
      name: sub.charAt(0).toUpperCase() + sub.slice(1), email: `${sub}@dev.example`,
    }));
    const signature = b64url(sign(null, Buffer.from(`${header}.${payload}`), privateKey));
    send(200, { id_token: `${header}.${payload}.${signature}`, token_type: 'id_token' });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  issuer = `http://127.0.0.1:${server.address().port}`;
  return {
    issuer,
    /** The provider record that lets an org accept this IdP's tokens. */
    provider: {
      issuer, jwks_uri: `${issuer}/jwks`, algorithms: ['EdDSA'], audiences: [DEV_IDP_AUDIENCE],
      claim_mapping: { name: 'name', email: 'email' }, allowed_scopes: ['session', 'profile'], default_scopes: ['session'],
    },
    stop: () => new Promise((r) => server.close(r)),
  };
}
