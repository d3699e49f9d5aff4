// The benchmark org `bench` in both workers: the same settings (ours' defaults, per-IP limits off,
// a tier without a monthly quota, so neither worker meters), one Ed25519 signing key, and the
// same upstream identity provider (RS256 and EdDSA from a JWKS on 127.0.0.1, email and name
// mapped, one default scope). bench/workers/jose/seed.mjs defines both sides.
import { joseOrgRecord, ourProvider, OUR_ORG_SETTINGS, PROVIDER_ID } from '../workers/jose/seed.mjs';

async function operator(url, token, method, path, body) {
  const res = await fetch(new URL(`/admin/v1${path}`, url), {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

export async function seedOurs(url, secrets, idp, settings = {}) {
  const op = (...a) => operator(url, secrets.operatorToken, ...a);
  await op('PUT', '/orgs/bench', { name: 'Bench', ...OUR_ORG_SETTINGS, ...settings });
  await op('POST', '/orgs/bench/signing-keys');
  await op('PUT', `/orgs/bench/providers/${PROVIDER_ID}`, ourProvider(idp));
}

export async function seedJose(mf, url, idp) {
  const { key, value } = await joseOrgRecord({
    org: 'bench',
    issuer: new URL('/orgs/bench', url).href,
    idp: { issuer: idp.issuer, jwksUri: idp.jwksUri, clientId: idp.clientId },
  });
  const kv = await mf.getKVNamespace('KV', 'jose');
  await kv.put(key, value);
}
